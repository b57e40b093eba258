;; compile-error: set_unbound.scm:2:7: error: `set!` of unbound variable `nope`
(set! nope 1)
