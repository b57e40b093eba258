;; Index out of range.
;; exit: 1
;; stderr: vector-ref
;; stderr: out of bounds
(define v (vector 1 2 3))
(display (vector-ref v 10))
