package ctld

// Coordinates reports whether user coordinates account or an account above
// it: such a user sees that account's jobs and bills whole, as the owner
// does (apiserver's privacy rules).
func (c *Controller) Coordinates(user, account string) bool {
	return account != "" && c.acct.tree.Load().Coordinates(user, account)
}
