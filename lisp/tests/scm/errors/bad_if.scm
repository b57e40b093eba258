;; compile-error: bad_if.scm:3:13: error: bad `if`
(display 1)
(define (f) (if))
