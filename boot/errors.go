package boot

import "errors"

// Sentinel errors of Prepare; the controller fails the job with err.Error()
// and may branch on errors.Is.
var (
	ErrBadRequest    = errors.New("bad boot request")
	ErrUnknownKernel = errors.New("unknown kernel")
	ErrForbiddenPath = errors.New("path is not inside a kernel directory")
	ErrDownload      = errors.New("download failed")
	ErrTooLarge      = errors.New("download too large")
	ErrCmdline       = errors.New("bad kernel command line")
	ErrArch          = errors.New("architecture mismatch")
	ErrNoAgent       = errors.New("no agent binary for this architecture")
	// ErrImage matches every image failure; errors.Is also reaches the image
	// package's sentinels (image.ErrNotFound, image.ErrNoPlatform, ...).
	ErrImage = errors.New("image")
)

// imageError keeps the image package's message ("image X: not found") while
// matching ErrImage.
type imageError struct{ err error }

func (e imageError) Error() string        { return e.err.Error() }
func (e imageError) Unwrap() error        { return e.err }
func (e imageError) Is(target error) bool { return target == ErrImage }
