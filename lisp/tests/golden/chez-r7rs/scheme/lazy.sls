;; (scheme lazy) for Chez Scheme 9.5 (see base.sls); delay-force is plain delay here.
(library (scheme lazy)
  (export delay force (rename (delay delay-force)) make-promise)
  (import (chezscheme))
  (define (make-promise v) (delay v)))
