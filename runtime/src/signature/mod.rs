//! Webhook signature verification (placeholder; see issue 4 work).
//! The server and the `hookflow signature` command share this one code path.
