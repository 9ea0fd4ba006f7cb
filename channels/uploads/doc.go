// Package uploads caches media uploaded to a provider, so each image is
// uploaded once per channel account and later messages refer to it (VK
// photos: "photo<owner>_<id>_<access_key>"). The cache lives in Postgres
// (table media_uploads) and is shared by every worker process: Resolve
// holds a transaction-scoped advisory lock on the (channel, account, URL)
// while it uploads, so two workers sending the same new image at once
// upload it once.
package uploads
