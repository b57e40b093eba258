; expect: run-time error inside procedures inlined into one another: the backtrace still has a frame for each
(import (scheme base) (scheme write))
(define (safe-div a b) (quotient a b))
(define (average-of total n) (safe-div total n))
(define (report total n) (display (average-of total n)) (newline))
(report 10 2)
(let ((show (lambda (n) (report 1 n))))
  (show 0))
