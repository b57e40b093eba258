;; A failed assertion names the expression.
;; exit: 1
;; stderr: assertion failed: (= (+ 1 1) 3)
(assert (= (+ 1 1) 3))
