;; define-syntax / syntax-rules.
(define-syntax swap!
  (syntax-rules ()
    ((_ a b) (let ((tmp a)) (set! a b) (set! b tmp)))))
(define tmp 1)
(define other 2)
(swap! tmp other)
(display (list tmp other)) (newline)
(define-syntax while
  (syntax-rules ()
    ((_ cond body ...) (let loop () (when cond body ... (loop))))))
(define i 0)
(define acc '())
(while (< i 5) (set! acc (cons i acc)) (set! i (+ i 1)))
(display acc) (newline)
(define-syntax my-or
  (syntax-rules ()
    ((_) #f)
    ((_ e) e)
    ((_ e r ...) (let ((t e)) (if t t (my-or r ...))))))
(define t 5)
(display (list (my-or) (my-or #f 3) (my-or #f t))) (newline)
(define-syntax my-let*
  (syntax-rules ()
    ((_ () body ...) (let () body ...))
    ((_ ((x v) rest ...) body ...) (let ((x v)) (my-let* (rest ...) body ...)))))
(display (my-let* ((a 1) (b (+ a 1)) (c (* b 10))) (list a b c))) (newline)
(define-syntax for
  (syntax-rules (in from to)
    ((_ x in lst body ...) (for-each (lambda (x) body ...) lst))
    ((_ x from a to b body ...) (do ((x a (+ x 1))) ((> x b)) body ...))))
(for x in '(a b c) (display x))
(newline)
(for k from 1 to 4 (display k))
(newline)
(define-syntax define-getter
  (syntax-rules ()
    ((_ name field) (define (name alist) (cdr (assq 'field alist))))))
(define-getter get-age age)
(display (get-age '((name . "x") (age . 42)))) (newline)
(define (use-in-body)
  (define-getter get-x x)
  (get-x '((x . 7))))
(display (use-in-body)) (newline)
(define-syntax my-list
  (syntax-rules ()
    ((_ (a b) ...) (list (cons a b) ...))))
(display (my-list (1 2) (3 4))) (newline)
(define-syntax unless2
  (syntax-rules () ((_ c e1 e2 ...) (if c #f (begin e1 e2 ...)))))
(display (unless2 #f 'x 'y)) (newline)
(define-syntax dot-args
  (syntax-rules () ((_ a . rest) (list a 'rest))))
(display (dot-args 1 2 3)) (newline)
