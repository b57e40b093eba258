; expect: run-time error in a named let that is not in tail position (compiled in place, in its binder's code): the backtrace still shows the loop's frame above its binder's
(define (f v)
  (let ((n (let scan ((i 0)) (if (< i 5) (scan (+ i 1)) (car i)))))
    (+ n 1)))
(display (f 3))
