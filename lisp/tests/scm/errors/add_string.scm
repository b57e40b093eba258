;; Arithmetic on a non-number.
;; exit: 1
;; stderr: +: expected numbers
(define (f x) (+ x 1))
(f "one")
