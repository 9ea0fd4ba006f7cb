// Package web serves the pages managers and admins use: login, the inbox and
// the campaign dashboard. Pages are server-rendered html/template files and a
// stylesheet embedded in the binary (no CDN: they work offline), usable at
// phone width.
package web
