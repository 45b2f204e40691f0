//! The web console over real HTTP, as a browser without JavaScript meets it: sign-in and its
//! cookies, the session gate on every route, CSRF on every state-changing form, tenant
//! isolation of the pages, what the playground, the Inspector and the live stream show, and
//! the security headers. Every write the console refuses is checked against the admin API.

mod support;

mod csrf;
mod gate;
mod headers;
mod isolation;
mod pages;
mod sign_in;
mod sign_out;
