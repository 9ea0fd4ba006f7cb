// Package classify decides what a customer's reply means to a waiting flow: a
// button payload decides first, then the campaign's keyword lists, then a
// negation-aware rule-based sentiment classifier for Russian and English. The
// sentiment lexicon is a data file (lexicon.txt, embedded) that installs extend
// with their own file; the result carries the rule that decided, so it can be
// stored with the reply and audited.
package classify
