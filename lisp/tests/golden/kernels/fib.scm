;; fib: naive doubly-recursive Fibonacci.
(define (fib n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))
(display (fib 25))
(newline)
(display (map fib '(0 1 2 3 10 20)))
(newline)
