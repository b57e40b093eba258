;; startup: does nothing; its time is each runtime's start-up cost (subtracted in the
;; "net of start-up" table).
(display 0)
(newline)
