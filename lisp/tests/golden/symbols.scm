(import (scheme base) (scheme write))
;; Symbols: string->symbol returns the same object for equal text, short or long (past 40
;; bytes), literal or built at run time, ASCII or not, also after many symbols were made and
;; dropped (collections in between).
(define (show . xs) (for-each (lambda (x) (write x) (display " ")) xs) (newline))
(define (long n) (let loop ((i 0) (acc "")) (if (= i n) acc (loop (+ i 1) (string-append acc "ab")))))
(show 'short (eq? (string->symbol "abc") 'abc) (eq? (string->symbol (string-append "ab" "c")) 'abc))
(show 'long-literal
      (eq? (string->symbol "a-rather-long-symbol-name-well-past-forty-bytes-of-text")
           'a-rather-long-symbol-name-well-past-forty-bytes-of-text))
(define s1 (string->symbol (long 40)))
(define s2 (string->symbol (string-append (long 20) (long 20))))
(show 'long-built (eq? s1 s2) (string-length (symbol->string s1)))
(show 'differ (eq? (string->symbol (long 30)) (string->symbol (long 31))))
(show 'non-ascii (eq? (string->symbol (string-append "λ-" (long 25))) (string->symbol (string-append "λ-ab" (long 24))))
      (string-length (symbol->string (string->symbol "λμ"))) (eq? (string->symbol "λμ") 'λμ))
(define (churn i)
  (if (< i 2000)
      (begin (string->symbol (string-append (long 25) (number->string i))) (churn (+ i 1)))))
(churn 0)
(show 'after-churn (eq? s1 (string->symbol (long 40)))
      (eq? (string->symbol (string-append (long 25) "123")) (string->symbol (string-append (long 25) "12" "3"))))
(show 'round-trip (symbol->string (string->symbol "hello world")) (symbol->string 'x))
