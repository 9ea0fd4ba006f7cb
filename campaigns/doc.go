// Package campaigns owns the campaign format: the Go shape of a campaign
// YAML file (definition.go), its loader with positions, its lint rules, its
// JSON Schema and the Postgres store of immutable versions.
//
// Loading. Load / Parse read a file with goccy/go-yaml's parser (which keeps
// line and column on every node) and decode the AST into a Definition by
// reflection over the yaml tags. Decoding never stops at the first problem:
// unknown fields (with a "did you mean"), type errors, duplicate keys,
// invalid durations and missing required fields are collected in
// File.Problems, each at the line and column of the node at fault, and the
// position of every value is kept under its path ("steps[2].send.template")
// for the lint rules. No input panics the loader (FuzzLoad).
//
// Lint. Lint returns every problem at once as LintError{File, Line, Col,
// Rule, Msg, Hint}; WriteReport prints them as "file:line:col: rule:
// message" with the source line, a caret and the hint. Rules lists the rule
// ids. The per-channel template rules (template syntax, button and text
// limits) live in package templates, which imports this package, so they
// are injected through Linter.CheckVariant; campaigns/channelcheck wires them.
//
// Conditions. condition.go is the one home of audience and branch
// conditions: the typed operator set (Op), Condition.Match in Go (the
// worker's branch steps) and Condition.SQL over the subscribers row (the
// scheduler's audiences); one table test runs both against Postgres.
//
// Cron. ParseCron is the one parser of schedule triggers, for lint and the
// scheduler alike.
//
// Declared fields and the sample render. A campaign declares the attributes
// and its trigger the payload fields its templates read (Fields). With
// Linter.CheckRender set (campaigns/channelcheck sets it to
// templates.CheckRender, the production renderer), lint renders every
// variant against Definition.Sample and reports a misspelt field or an
// undeclared key at its line and column in the template text (File.TextPos).
//
// Flow. A run starts at the first step. A step's next defaults to the
// following step; end steps and the last step end the run. Edges lists the
// ways out of a step (next, reply branches, timeout, branch cases, split
// variants) for the runtime and the graph rules. SplitStep.Pick is the one
// home of which variant of a split a subscriber takes.
//
// Versions. Store.Apply lints, then stores the file as a version keyed by
// the content hash of its source (ContentVersion): the same content is the
// same version, changed content the next number, which becomes current.
// Versions are never changed, so runs that started on one keep it.
package campaigns
