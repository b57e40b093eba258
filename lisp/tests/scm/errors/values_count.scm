;; A consumer of two values given one value.
;; exit: 1
;; stderr: call-with-values: the consumer takes 2 value(s), got another number
;; stderr: values_count.scm:6
(display "before") (newline)
(call-with-values (lambda () (if (> 2 1) 1 (values 1 2))) (lambda (a b) (display a)))
