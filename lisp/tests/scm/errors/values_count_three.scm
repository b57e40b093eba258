;; A consumer of three values given two values from a procedure.
;; exit: 1
;; stderr: call-with-values: the consumer takes 3 value(s), got another number
;; stderr: values_count_three.scm:6
(define (two) (values 1 2))
(call-with-values (lambda () (two)) (lambda (a b c) (display a)))
