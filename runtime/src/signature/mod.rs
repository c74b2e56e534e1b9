//! Webhook signature verification (placeholder; see issue 4 work).
