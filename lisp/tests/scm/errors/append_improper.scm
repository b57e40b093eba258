;; append of an improper list that is not the last argument.
;; exit: 1
;; stderr: append: not a proper list: 3
(display "before")
(newline)
(display (append '(1 2 . 3) '(4)))
