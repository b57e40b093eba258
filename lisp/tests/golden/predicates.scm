(import (scheme base) (scheme write))
;; Type predicates over a table of values: number? integer? real? boolean? char? string?
;; symbol? pair? null? list? vector? procedure? bytevector?
(define values-table
  (list 0 -3 2.5 2.0 #t #f #\a "s" "" 'sym '() '(1) '(1 . 2) (vector) (vector 1) car
        (lambda (x) x) (bytevector 1)))
(define names
  '("0" "-3" "2.5" "2.0" "#t" "#f" "#\\a" "\"s\"" "\"\"" "sym" "()" "(1)" "(1 . 2)" "#()" "#(1)"
    "car" "lambda" "bytevector"))
(define preds
  (list (cons 'number? number?) (cons 'integer? integer?) (cons 'real? real?)
        (cons 'boolean? boolean?) (cons 'char? char?) (cons 'string? string?)
        (cons 'symbol? symbol?) (cons 'pair? pair?) (cons 'null? null?) (cons 'list? list?)
        (cons 'vector? vector?) (cons 'procedure? procedure?) (cons 'bytevector? bytevector?)))
(for-each
 (lambda (p)
   (display (car p))
   (for-each (lambda (v name) (when ((cdr p) v) (display " ") (display name))) values-table names)
   (newline))
 preds)
(display "procedure? on keywords-as-values: ")
(write (map procedure? (list car cdr + apply map (lambda () 1) 'car "car")))
(newline)
(display "boolean=? ") (write (list (boolean=? #t #t) (boolean=? #t #f)))
(newline)
(display "not ") (write (list (not #f) (not #t) (not '()) (not 0)))
(newline)
