;; Sum of the integers 0..n with a named-let loop, and in floating point.
(define (run n) (let loop ((i n) (sum 0)) (if (< i 0) sum (loop (- i 1) (+ i sum)))))
(display (run 10000)) (newline)
(define (sumfp n) (let loop ((i n) (sum 0.0)) (if (< i 0.0) sum (loop (- i 1.0) (+ i sum)))))
(display (sumfp 10000.0)) (newline)
