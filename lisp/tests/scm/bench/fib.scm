;; Classic doubly recursive Fibonacci.
(define (fib n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))
(display (fib 25)) (newline)
