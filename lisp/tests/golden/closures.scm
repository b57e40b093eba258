;; Closures: counters with mutable captured variables, two closures sharing state,
;; closures built in loops capture fresh bindings, higher-order composition.
;; (No import form: runs in each Scheme's default environment.)
(define (show . xs) (for-each display xs) (newline))

(define (make-counter)
  (let ((n 0))
    (lambda () (set! n (+ n 1)) n)))
(define c1 (make-counter))
(define c2 (make-counter))
(c1) (c1)
(let* ((a (c1)) (b (c2)) (c (c1)))   ; sequenced: argument evaluation order is unspecified
  (show "counters: " a " " b " " c))

(define (make-account balance)
  (define (deposit! x) (set! balance (+ balance x)) balance)
  (define (withdraw! x) (set! balance (- balance x)) balance)
  (list deposit! withdraw! (lambda () balance)))
(define acct (make-account 100))
((car acct) 50)
((cadr acct) 30)
(show "shared state: " ((caddr acct)))

(define (make-stack)
  (let ((items '()))
    (values (lambda (x) (set! items (cons x items)))
            (lambda () (let ((top (car items))) (set! items (cdr items)) top))
            (lambda () (length items)))))
(call-with-values make-stack
  (lambda (push! pop! size)
    (push! 1) (push! 2) (push! 3)
    (let* ((a (pop!)) (b (pop!)))
      (show "stack: " a " " b " size " (size)))))

(define (make-adder n) (lambda (x) (+ x n)))
(define add5 (make-adder 5))
(show "adder: " (add5 10) " " ((make-adder -1) 1))

(define (compose . fs)
  (if (null? fs)
      (lambda (x) x)
      (lambda (x) ((car fs) ((apply compose (cdr fs)) x)))))
(show "compose: " ((compose (lambda (x) (* x 2)) add5 (make-adder 1)) 3))

(define thunks
  (do ((i 0 (+ i 1)) (acc '() (cons (lambda () (* i 10)) acc)))
      ((= i 4) (reverse acc))))
(show "do captures fresh i: " (map (lambda (t) (t)) thunks))
(define named
  (let loop ((i 0) (acc '()))
    (if (= i 3) (reverse acc) (loop (+ i 1) (cons (lambda () i) acc)))))
(show "named let captures: " (map (lambda (t) (t)) named))

(define x 'global)
(define (get-x) x)
(define (shadow-test) (let ((x 'local)) (get-x)))
(show "lexical scope: " (shadow-test))

(define (make-fib-memo)
  (let ((memo (make-vector 50 #f)))
    (define (fib n)
      (cond ((< n 2) n)
            ((vector-ref memo n) => (lambda (v) v))
            (else (let ((v (+ (fib (- n 1)) (fib (- n 2)))))
                    (vector-set! memo n v)
                    v))))
    fib))
(show "memo fib 40: " ((make-fib-memo) 40))

(define (curry f . args) (lambda more (apply f (append args more))))
(show "curry: " ((curry + 1 2) 3 4) " " ((curry list 'a) 'b 'c))

(define (fold-left f init l) (if (null? l) init (fold-left f (f init (car l)) (cdr l))))
(show "fold with closure: " (fold-left (lambda (acc x) (+ (* acc 10) x)) 0 '(1 2 3 4)))

(define gen
  (let ((state 1))
    (lambda () (set! state (modulo (* state 16807) 2147483647)) state)))
(let* ((a (gen)) (b (gen)) (c (gen)))
  (show "generator: " a " " b " " c))

(define (make-toggle)
  (let ((on #f))
    (cons (lambda () (set! on (not on)) on) (lambda () on))))
(define t (make-toggle))
((car t)) ((car t)) ((car t))
(show "toggle: " ((cdr t)))
(define (counter-from start)
  (lambda () (let ((old start)) (set! start (+ start 1)) old)))
(define cf (counter-from 10))
(let* ((a (cf)) (b (cf)) (c (cf)))
  (show "counter-from: " (list a b c)))
