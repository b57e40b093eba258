(import (scheme base) (scheme write))
;; define-record-type: constructor (fields subset and reordered), predicate, accessors,
;; modifiers, records inside other data, distinct types.  Records themselves are never printed.
(define (show . xs) (for-each display xs) (newline))

(define-record-type point
  (make-point x y)
  point?
  (x point-x set-point-x!)
  (y point-y set-point-y!))

(define-record-type <node>
  (make-node value next)
  node?
  (value node-value)
  (next node-next set-node-next!))

(define-record-type <account>
  (open-account owner balance)       ; 'history' is not a constructor argument
  account?
  (history account-history set-account-history!)
  (balance account-balance set-account-balance!)
  (owner account-owner))

(define p (make-point 3 4))
(show "point: " (point-x p) " " (point-y p))
(set-point-x! p 10)
(show "after set: " (point-x p) " " (point-y p))
(show "predicates: " (point? p) " " (point? 5) " " (point? (vector 3 4)) " " (node? p)
      " " (point? '(3 4)))
(show "not a pair/vector/procedure: " (pair? p) " " (vector? p) " " (procedure? p))

(define (list->nodes l)
  (if (null? l) '() (make-node (car l) (list->nodes (cdr l)))))
(define (nodes->list n)
  (if (null? n) '() (cons (node-value n) (nodes->list (node-next n)))))
(define chain (list->nodes '(a b c d)))
(show "chain: " (nodes->list chain))
(set-node-next! (node-next chain) '())
(show "cut chain: " (nodes->list chain))

(define acct (open-account "ann" 100))
(set-account-history! acct '())
(define (deposit! a amount)
  (set-account-balance! a (+ (account-balance a) amount))
  (set-account-history! a (cons amount (account-history a))))
(deposit! acct 50)
(deposit! acct -30)
(show "account: " (account-owner acct) " " (account-balance acct) " " (account-history acct))

(define pts (map (lambda (i) (make-point i (* i i))) '(1 2 3 4)))
(show "sum of ys: " (apply + (map point-y pts)))
(show "eq? on records: " (eq? p p) " " (eqv? (make-point 1 1) (make-point 1 1))
      " " (equal? (car pts) (car pts)))
(define v (vector (make-point 7 8)))
(show "record in vector: " (point-y (vector-ref v 0)))
