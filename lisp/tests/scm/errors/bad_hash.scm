;; compile-error: bad_hash.scm:2:4: error: bad `#` syntax
(f #zz)
