"""Voice rooms: creation, listing, access and invites."""
