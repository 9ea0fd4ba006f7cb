// Package analytics computes what marketers read on the dashboard, straight
// from the source-of-truth tables: the funnel of a campaign version
// (audience → sent → delivered → read → replied → handed off → goal), reply
// reaction times, fallback use by channel, and the goal uplift of treated
// runs over the holdout with a 95% confidence interval.
//
// A goal counts when the subscriber posts the goal step's event between the
// run's start and the end of the goal window counted from the run's start.
// Holdout runs get no messages but are measured the same way, which is what
// makes the comparison fair.
//
// A split step's variants are compared the same way: each variant's funnel
// counts the runs whose context records that the split sent them down it
// (the worker writes it), and its goal rate's difference from the first
// variant's comes with the same 95% interval as the holdout uplift (one
// function, uplift).
package analytics
