;; compile-error: unbalanced.scm:5:1: error: unbalanced parentheses
;; compile-error: missing `)`
(display "ok")

(define (f x)
  (+ x 1)
