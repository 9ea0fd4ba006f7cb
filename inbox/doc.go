// Package inbox is where the automation meets people. Router takes every
// customer text and button press (after the inbound sink stored it): it opens
// the 24h window of the channel, classifies the reply against the flow run
// waiting for it and resumes that run on the matched branch — or, when no run
// waits, the wait timed out first, or a manager conversation is open, puts the
// reply in the inbox. Service gives managers their queue: list, claim and
// assign, reply through the customer's channel within its rules, notes, and
// resolve, which resumes or ends the paused flow. While a conversation is
// open the policy gate pauses marketing for that subscriber.
//
// The inbox owns replies, conversations and hand-offs (the replies,
// conversations, conversation_items and handoffs tables). It decides where a
// run goes and asks the flow runtime to move it through Runs, which the
// worker's Engine implements with no inbox types; the worker's hand-off step
// records its hand-off through Handoffs.
package inbox
