package testenv

// SplitCampaign is the A/B renewal offer of the split tests: an API-triggered
// campaign on the sandbox whose step ab sends half its runs the menu and half
// the discount, with the renewal within 3 days as its goal. The engine's end
// to end split test runs it; the funnel command's test reads its funnel.
const SplitCampaign = `id: renew-ab
name: Renewal offer A/B
topic: marketing
trigger:
  api: {}
settings:
  channels: [sandbox]
steps:
  - id: ab
    split:
      variants:
        - {id: menu, weight: 50, goto: menu}
        - {id: discount, weight: 50, goto: discount}
  - id: menu
    send: {template: menu}
    next: renewed
  - id: discount
    send: {template: discount}
  - id: renewed
    goal: {event: subscription.renewed, within: 3d}
templates:
  menu:
    default:
      ru: {text: "Меню на следующую неделю готово"}
      en: {text: "Next week's menu is ready"}
  discount:
    default:
      ru: {text: "Скидка 10% на следующую неделю"}
      en: {text: "10% off next week"}
`
