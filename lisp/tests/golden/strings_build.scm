(import (scheme base) (scheme write) (scheme char))
;; Building strings: list->string and make-string (non-ASCII, empty, long), string->list of
;; non-ASCII text, number->string of negative and large ints, and the round trips through
;; symbols that the strings benchmark makes.
(define (show . xs) (for-each (lambda (x) (write x) (display " ")) xs) (newline))
(show 'list->string (list->string (list #\λ #\a #\😀)) (list->string '())
      (string-length (list->string (map (lambda (i) (integer->char (+ 97 (modulo i 26)))) (let loop ((i 999) (acc (quote ()))) (if (< i 0) acc (loop (- i 1) (cons i acc))))))))
(show 'make-string (make-string 3 #\é) (make-string 0 #\x) (string-length (make-string 500 #\z))
      (string-length (make-string 2)))
(show 'string->list (string->list "añb😀") (string->list "añb😀" 1 3))
(show 'number->string (number->string -42) (number->string 9223372036854775807) (number->string 0)
      (number->string (* 199999 7919)))
(define (caesar s k)
  (list->string
   (map (lambda (c)
          (let ((n (char->integer c)))
            (if (and (>= n 97) (<= n 122)) (integer->char (+ 97 (modulo (+ (- n 97) k) 26))) c)))
        (string->list s))))
(define (build i)
  (let* ((word (string-append "item-" (number->string (* i 7919)) "-λ-" (substring "abcdefghijklmnopqrstuvwxyz" (modulo i 20) 26)))
         (sym (string->symbol word)))
    (string-append (caesar (symbol->string sym) (modulo i 26)) (make-string (modulo i 7) #\.))))
(show 'build (build 0) (build 13) (build 12345))
