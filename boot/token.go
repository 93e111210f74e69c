package boot

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"time"
)

// Tokens live in memory only. A restarted controller re-Prepares the boots
// it still needs (new tokens); a node holding an old token gets 403 and the
// boot fails or is retried, which is the safe outcome. The one exception is
// the agent token of a running job the restarted controller recovered: it
// adopts it from its hash (adopt.go).

type tokenKind int

const (
	kindKernel tokenKind = iota // single use: /a/{token}/vmlinuz
	kindInitrd                  // single use: /a/{token}/initrd.img
	kindAgent                   // until Finish: /agent/*
)

func (k tokenKind) String() string {
	return [...]string{"kernel", "initrd", "agent"}[k]
}

// tokenLen is 32 random bytes: guessing one is out of the question, so the
// token alone authenticates.
const tokenLen = 32

func newToken() string {
	b := make([]byte, tokenLen)
	rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return base64.RawURLEncoding.EncodeToString(b)
}

// tokenKey is how the table finds a token: its hash, so a lookup's timing
// says nothing about the token's bytes.
type tokenKey [sha256.Size]byte

func keyOf(tok string) tokenKey { return sha256.Sum256([]byte(tok)) }

// fingerprint names a token in logs without revealing it.
func fingerprint(tok string) string {
	k := keyOf(tok)
	return hex.EncodeToString(k[:3])
}

type token struct {
	key     tokenKey
	kind    tokenKind
	boot    *bootState
	expires time.Time
	used    bool
}

// matches compares in constant time; the map lookup by hash already found
// the entry, this guards against a future change of the lookup.
func (t *token) matches(tok string) bool {
	k := keyOf(tok)
	return subtle.ConstantTimeCompare(k[:], t.key[:]) == 1
}
