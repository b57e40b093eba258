;; fib: naive doubly-recursive Fibonacci (calls/returns, small-integer arithmetic).
(define size 37)
(define (fib n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))
(display (fib size))
(newline)
