;; fibfp: doubly-recursive Fibonacci on floats (boxed/unboxed float arithmetic in calls).
(define size 34.0)
(define (fibfp n) (if (< n 2.0) n (+ (fibfp (- n 1.0)) (fibfp (- n 2.0)))))
(display (fibfp size))
(newline)
