;; exit with a status.
;; exit: 3
(display "bye") (newline)
(exit 3)
(display "not reached")
