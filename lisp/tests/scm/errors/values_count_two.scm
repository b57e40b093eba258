;; A consumer of one value, and then of three, given two values from a procedure.
;; exit: 1
;; stderr: call-with-values: the consumer takes 1 value(s), got another number
;; stderr: values_count_two.scm:7
(define (two) (values 1 2))
(display "before") (newline)
(call-with-values (lambda () (two)) (lambda (a) (display a)))
