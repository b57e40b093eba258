;; (scheme base) for Chez Scheme 9.5, which has no R7RS libraries: re-exports Chez's own
;; bindings and defines the missing or differently-behaved ones (R7RS define-record-type,
;; error, ranged string-copy/vector-copy/..., floor/ and truncate/, ...).  Used only to run
;; the golden tests and benchmarks under Chez as a cross-check; see ../../check-peers.sh.
(library (scheme base)
  (export
   * + - ... / < <= = => > >= _ abs and append apply assq assv begin binary-port? boolean=?
   boolean? bytevector bytevector-length bytevector-u8-ref
   bytevector-u8-set! bytevector? caar cadr call-with-current-continuation call-with-port
   call-with-values call/cc car case cdar cddr cdr ceiling char->integer char-ready? char<=?
   char<? char=? char>=? char>? char? close-input-port close-output-port close-port complex?
   cond cons current-error-port current-input-port current-output-port define define-syntax
   define-values denominator do dynamic-wind else eof-object eof-object? eq? equal? eqv?
   even? exact exact-integer-sqrt exact? expt floor flush-output-port for-each gcd
   get-output-string guard if include inexact inexact? input-port? integer->char integer?
   lambda lcm length let let* let*-values let-syntax let-values letrec letrec* letrec-syntax
   list list->string list->vector list-copy list-ref list-tail list? make-bytevector make-list
   make-parameter make-string make-vector map max memq memv min modulo negative? newline
   not null? number->string number? numerator odd? open-input-string open-output-string or
   output-port? pair? parameterize peek-char positive? procedure? quasiquote quote quotient
   raise raise-continuable rational? rationalize read-char real? remainder reverse round set!
   set-car! set-cdr! string string->number string->symbol string->utf8 string-append
   string-fill! string-for-each string-length string-ref string-set! string<=? string<?
   string=? string>=? string>? string? substring symbol->string symbol=? symbol? syntax-error
   syntax-rules textual-port? truncate unless unquote unquote-splicing utf8->string values
   vector vector-length vector-map vector-for-each vector-ref vector-set! vector? when
   with-exception-handler write-char zero?
   ;; defined below
   define-record-type error error-object? error-object-message error-object-irritants
   read-error? file-error? exact-integer? square floor/ floor-quotient floor-remainder
   truncate/ truncate-quotient truncate-remainder string-map string->vector vector->string
   vector-append vector-copy! list-set! bytevector-append input-port-open? output-port-open?
   read-line read-string write-string features
   (rename (r7:string-copy string-copy) (r7:string->list string->list)
           (r7:string-copy! string-copy!) (r7:vector-copy vector-copy)
           (r7:vector->list vector->list) (r7:vector-fill! vector-fill!)
           (r7:member member) (r7:assoc assoc)
           (r7:bytevector-copy bytevector-copy) (r7:bytevector-copy! bytevector-copy!)))
  (import (rename (except (chezscheme) define-record-type) (error cs:error)))

  (define (%field-index name names)
    (let loop ((ns names) (i 0))
      (cond ((null? ns) (cs:error 'define-record-type "no such field" name))
            ((eq? (car ns) name) i)
            (else (loop (cdr ns) (+ i 1))))))

  (define-syntax define-record-type
    (syntax-rules ()
      ((_ type (ctor cfield ...) pred (fname acc more ...) ...)
       (begin
         (define type
           (make-record-type-descriptor 'type #f #f #f #f '#((mutable fname) ...)))
         (define ctor
           (let ((mk (record-constructor (make-record-constructor-descriptor type #f #f)))
                 (names '(fname ...)))
             (lambda (cfield ...)
               (let ((r (apply mk (map (lambda (n) #f) names))))
                 ((record-mutator type (%field-index 'cfield names)) r cfield) ...
                 r))))
         (define pred (record-predicate type))
         (%record-field type (fname ...) fname acc more ...) ...))))

  (define-syntax %record-field
    (syntax-rules ()
      ((_ type names fname acc)
       (define acc (record-accessor type (%field-index 'fname 'names))))
      ((_ type names fname acc mod)
       (begin (define acc (record-accessor type (%field-index 'fname 'names)))
              (define mod (record-mutator type (%field-index 'fname 'names)))))))

  (define (error msg . irritants) (apply cs:error #f msg irritants))
  (define (error-object? x) (condition? x))
  (define (error-object-message c) (if (message-condition? c) (condition-message c) ""))
  (define (error-object-irritants c) (if (irritants-condition? c) (condition-irritants c) '()))
  (define (read-error? x) (lexical-violation? x))
  (define (file-error? x) (i/o-filename-error? x))
  (define (exact-integer? x) (and (integer? x) (exact? x)))
  (define (square x) (* x x))
  (define (floor-remainder a b) (modulo a b))
  (define (floor-quotient a b) (quotient (- a (modulo a b)) b))
  (define (floor/ a b) (values (floor-quotient a b) (floor-remainder a b)))
  (define (truncate-quotient a b) (quotient a b))
  (define (truncate-remainder a b) (remainder a b))
  (define (truncate/ a b) (values (quotient a b) (remainder a b)))
  (define (string-map f s . ss)
    (list->string (apply map f (string->list s) (map string->list ss))))
  (define r7:string->list
    (case-lambda ((s) (string->list s))
                 ((s a) (string->list (substring s a (string-length s))))
                 ((s a b) (string->list (substring s a b)))))
  (define r7:string-copy
    (case-lambda ((s) (string-copy s))
                 ((s a) (substring s a (string-length s)))
                 ((s a b) (substring s a b))))
  (define r7:string-copy!
    (case-lambda ((to at from) (r7:string-copy! to at from 0 (string-length from)))
                 ((to at from a) (r7:string-copy! to at from a (string-length from)))
                 ((to at from a b) (string-copy! from a to at (- b a)))))
  (define r7:vector->list
    (case-lambda ((v) (vector->list v))
                 ((v a) (r7:vector->list v a (vector-length v)))
                 ((v a b) (let loop ((i (- b 1)) (acc '()))
                            (if (< i a) acc (loop (- i 1) (cons (vector-ref v i) acc)))))))
  (define r7:vector-copy
    (case-lambda ((v) (vector-copy v))
                 ((v a) (list->vector (r7:vector->list v a)))
                 ((v a b) (list->vector (r7:vector->list v a b)))))
  (define r7:vector-fill!
    (case-lambda ((v x) (vector-fill! v x))
                 ((v x a) (r7:vector-fill! v x a (vector-length v)))
                 ((v x a b) (do ((i a (+ i 1))) ((>= i b)) (vector-set! v i x)))))
  (define vector-copy!
    (case-lambda ((to at from) (vector-copy! to at from 0 (vector-length from)))
                 ((to at from a) (vector-copy! to at from a (vector-length from)))
                 ((to at from a b)
                  (if (< at a)
                      (do ((i a (+ i 1)) (j at (+ j 1))) ((>= i b))
                        (vector-set! to j (vector-ref from i)))
                      (do ((i (- b 1) (- i 1)) (j (+ at (- b a 1)) (- j 1))) ((< i a))
                        (vector-set! to j (vector-ref from i)))))))
  (define (string->vector . args) (list->vector (apply r7:string->list args)))
  (define (vector->string . args) (list->string (apply r7:vector->list args)))
  (define (vector-append . vs) (list->vector (apply append (map vector->list vs))))
  (define (list-set! l k x) (set-car! (list-tail l k) x))
  (define (bytevector-append . bs)
    (u8-list->bytevector (apply append (map bytevector->u8-list bs))))
  (define r7:member
    (case-lambda ((x l) (member x l))
                 ((x l same?) (let loop ((l l))
                                (cond ((null? l) #f) ((same? x (car l)) l) (else (loop (cdr l))))))))
  (define r7:assoc
    (case-lambda ((x l) (assoc x l))
                 ((x l same?) (let loop ((l l))
                                (cond ((null? l) #f) ((same? x (caar l)) (car l))
                                      (else (loop (cdr l))))))))
  (define r7:bytevector-copy
    (case-lambda ((b) (bytevector-copy b))
                 ((b a) (r7:bytevector-copy b a (bytevector-length b)))
                 ((b a e) (let ((r (make-bytevector (- e a))))
                            (bytevector-copy! b a r 0 (- e a))
                            r))))
  (define r7:bytevector-copy!
    (case-lambda ((to at from) (bytevector-copy! from 0 to at (bytevector-length from)))
                 ((to at from a) (bytevector-copy! from a to at (- (bytevector-length from) a)))
                 ((to at from a e) (bytevector-copy! from a to at (- e a)))))
  (define (input-port-open? p) (not (port-closed? p)))
  (define (output-port-open? p) (not (port-closed? p)))
  (define read-line
    (case-lambda
      (() (read-line (current-input-port)))
      ((p) (let ((c (read-char p)))
             (if (eof-object? c)
                 c
                 (let loop ((c c) (acc '()))
                   (if (or (eof-object? c) (char=? c #\newline))
                       (list->string (reverse acc))
                       (loop (read-char p) (cons c acc)))))))))
  (define read-string
    (case-lambda
      ((k) (read-string k (current-input-port)))
      ((k p) (let loop ((i 0) (acc '()))
               (let ((c (if (< i k) (read-char p) (eof-object))))
                 (if (eof-object? c)
                     (if (and (null? acc) (> k 0)) c (list->string (reverse acc)))
                     (loop (+ i 1) (cons c acc))))))))
  (define write-string
    (case-lambda ((s) (display s)) ((s p) (display s p))
                 ((s p a) (display (substring s a (string-length s)) p))
                 ((s p a b) (display (substring s a b) p))))
  (define (features) '(r7rs exact-closed ratios chez)))
