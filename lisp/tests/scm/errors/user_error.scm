;; (error msg irritant ...) stops the program with the message and irritants.
;; exit: 1
;; stderr: error: something bad: 42 (1 "two") sym
(define (check x) (if (> x 10) (error "something bad:" x '(1 "two") 'sym) x))
(display (check 5)) (newline)
(check 42)
