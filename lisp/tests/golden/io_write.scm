(import (scheme base) (scheme write))
;; display vs write of nested data: strings with escapes, characters, symbols, booleans,
;; numbers, empty list, dotted pairs, vectors, quote forms; newline and write-char/write-string.
(define data
  (list "plain" "with \"quotes\"" "back\\slash" "tab\there" "line\nbreak" ""
        #\a #\space #\newline #\tab #\Z
        'sym '() #t #f 42 -7 2.5
        '(1 . 2) '(1 (2 (3))) (vector 1 "s" #\c '(x)) (vector)))
(for-each (lambda (x) (write x) (newline)) data)
(display "--- display ---")
(newline)
(for-each (lambda (x) (display x) (newline)) data)
(display "--- whole list ---")
(newline)
(write data)
(newline)
(display data)
(newline)
(write-char #\x)
(write-char #\newline)
(write-string "write-string\n")
(display 1) (display " ") (display "two") (display " ") (write "three") (newline)
(write (list "nested" (list "deeper" #\q (vector "in vector" #\space))))
(newline)
(display (list "nested" (list "deeper" #\q (vector "in vector" #\space))))
(newline)
(write '(a . (b . (c . ()))))
(newline)
(write '((a . b) (c d . e)))
(newline)
(write (string #\a #\" #\b))
(newline)
(write (list 'quasi '`(a ,b ,@c) ''r))   ; write prints quote forms unabbreviated
(newline)
