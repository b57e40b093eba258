;; make-string's fallback for a count that is not a nonnegative int (it counts up to it),
;; list->string of an improper list (the chars before the tail), a fill that is not a char
(display (make-string 2.5 #\x)) (newline)
(display (string-length (make-string -3 #\x))) (newline)
(display (list->string (cons #\a (cons #\b 7)))) (newline)
(display (make-string 3 1)) (newline)
(display (string->symbol (list->string (list #\λ #\x)))) (newline)
