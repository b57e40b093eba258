;; (scheme process-context) for Chez Scheme 9.5 (see base.sls).
(library (scheme process-context)
  (export command-line exit emergency-exit get-environment-variable)
  (import (chezscheme))
  (define emergency-exit exit)
  (define (get-environment-variable name) (getenv name)))
