;; A run-time type error reports a Scheme message and a backtrace with names and lines.
;; exit: 1
;; stderr: car/cdr: expected a pair, got an integer
;; stderr: in first-of at car_of_int.scm:7
;; stderr: in use at car_of_int.scm:8
(display "before") (newline)
(define (first-of x) (car x))
(define (use v) (let ((r (first-of v))) (list r)))
(use 5)
(display "not reached")
