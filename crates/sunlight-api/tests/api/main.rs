//! Integration tests of `sunlight-api`: the router driven with
//! `tower::ServiceExt::oneshot`, tokens minted with jsonwebtoken's `encode` (HS256
//! secrets, and the test-only RSA pair in tests/keys/).

mod auditing;
mod authn;
mod config_doc;
mod lists;
mod metrics;
mod openapi;
mod scoping;
mod support;
