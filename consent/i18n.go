package consent

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/nudge-engine/nudge/consent/jwtlink"
)

// texts are the words of the opt-in pages, per language.
type texts struct {
	Lang        string
	Title       string
	Lead        string
	ButtonPre   string // "Get updates in" + channel
	Consent     string // what the customer agrees to
	Marketing   string // added when marketing is asked for
	OptOut      string
	NoChannels  string
	Back        string
	ErrorTitle  string
	RateLimited string
	Reasons     map[jwtlink.Reason]string
	BadChannel  string
	Internal    string
	// Welcome answers an opt-in start where the provider lets a bot reply
	// once in the webhook response (Viber conversation_started).
	Welcome string
}

var textsByLang = map[string]*texts{
	"ru": {
		Lang:        "ru",
		Title:       "Уведомления в мессенджере",
		Lead:        "Выберите мессенджер: откроется чат, нажмите «Старт» или отправьте сообщение.",
		ButtonPre:   "Получать в",
		Consent:     "Нажимая кнопку, вы соглашаетесь получать сообщения о ваших заказах",
		Marketing:   " и рекламные рассылки: новости, меню и акции",
		OptOut:      "Отписаться можно в любой момент: напишите «стоп».",
		NoChannels:  "Мессенджеры пока не подключены.",
		Back:        "Вернуться на сайт",
		ErrorTitle:  "Ссылка не работает",
		RateLimited: "Слишком много запросов. Попробуйте через минуту.",
		BadChannel:  "Этот мессенджер не подключён.",
		Internal:    "Что-то пошло не так. Попробуйте позже.",
		Welcome:     "Спасибо за подписку! Будем присылать сюда новости о ваших заказах. Отписаться: напишите «стоп».",
		Reasons: map[jwtlink.Reason]string{
			jwtlink.ReasonMalformed:    "Ссылка повреждена.",
			jwtlink.ReasonUnknownKey:   "Ссылка подписана неизвестным ключом.",
			jwtlink.ReasonAlgorithm:    "Ссылка подписана недопустимым способом.",
			jwtlink.ReasonSignature:    "Подпись ссылки неверна.",
			jwtlink.ReasonExpired:      "Срок действия ссылки истёк. Откройте её заново в личном кабинете.",
			jwtlink.ReasonNotYetValid:  "Ссылка ещё не действует.",
			jwtlink.ReasonAudience:     "Ссылка предназначена для другого сервиса.",
			jwtlink.ReasonIssuer:       "Ссылка выпущена другим отправителем.",
			jwtlink.ReasonMissingClaim: "В ссылке не хватает данных.",
			jwtlink.ReasonInvalidClaim: "В ссылке неверные данные.",
			jwtlink.ReasonReplayed:     "Ссылка уже использована. Откройте новую в личном кабинете.",
			jwtlink.ReasonNoKeys:       "Подписанные ссылки не настроены.",
		},
	},
	"en": {
		Lang:        "en",
		Title:       "Updates in your messenger",
		Lead:        "Pick a messenger: a chat opens, press Start or send the message.",
		ButtonPre:   "Get updates in",
		Consent:     "By pressing a button you agree to receive messages about your orders",
		Marketing:   " and marketing messages: news, menus and offers",
		OptOut:      "You can unsubscribe at any time: reply STOP.",
		NoChannels:  "No messengers are connected yet.",
		Back:        "Back to the site",
		ErrorTitle:  "This link does not work",
		RateLimited: "Too many requests. Please try again in a minute.",
		BadChannel:  "This messenger is not connected.",
		Internal:    "Something went wrong. Please try again later.",
		Welcome:     "Thanks for subscribing! We will send order updates here. To unsubscribe, write STOP.",
		Reasons: map[jwtlink.Reason]string{
			jwtlink.ReasonMalformed:    "The link is damaged.",
			jwtlink.ReasonUnknownKey:   "The link is signed with an unknown key.",
			jwtlink.ReasonAlgorithm:    "The link is signed with a method that is not allowed.",
			jwtlink.ReasonSignature:    "The link's signature is wrong.",
			jwtlink.ReasonExpired:      "The link has expired. Open it again from your account.",
			jwtlink.ReasonNotYetValid:  "The link is not valid yet.",
			jwtlink.ReasonAudience:     "The link is meant for another service.",
			jwtlink.ReasonIssuer:       "The link comes from another issuer.",
			jwtlink.ReasonMissingClaim: "The link lacks required data.",
			jwtlink.ReasonInvalidClaim: "The link carries invalid data.",
			jwtlink.ReasonReplayed:     "The link was already used. Open a new one from your account.",
			jwtlink.ReasonNoKeys:       "Signed links are not configured.",
		},
	},
}

// Welcome is the text that answers an opt-in start in the sender's language
// (a provider locale such as "en-US"), Russian unless it is English.
func Welcome(locale string) string {
	if t, ok := textsByLang[localeOf(locale)]; ok {
		return t.Welcome
	}
	return textsByLang["ru"].Welcome
}

// pickLang chooses ru or en: ?lang= first, then the Accept-Language entry
// with the highest q among the two, then ru.
func pickLang(r *http.Request, explicit string) *texts {
	if t, ok := textsByLang[strings.ToLower(strings.TrimSpace(explicit))]; ok {
		return t
	}
	best, bestQ := "ru", -1.0
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		lang := strings.ToLower(tag)
		if len(lang) > 2 {
			lang = lang[:2]
		}
		if _, ok := textsByLang[lang]; !ok {
			continue
		}
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		if q > bestQ {
			best, bestQ = lang, q
		}
	}
	return textsByLang[best]
}
