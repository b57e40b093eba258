;; Integer division by zero.
;; exit: 1
;; stderr: division by zero
(display (quotient 1 0))
