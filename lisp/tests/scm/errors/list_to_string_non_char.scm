;; list->string checks every element (after counting the list): a non-character is an error
;; naming it, raised before any string is built
;; exit: 1
;; stderr: error: list->string: not a character: 5
(display (string-length (list->string (list #\a #\b))))
(newline)
(display (list->string (list #\a #\b 5 #\c)))
(newline)
