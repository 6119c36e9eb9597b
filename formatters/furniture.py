"""Page furniture: text in a feed item or a page that is never the article itself.

Two kinds, and the difference matters:

* Furniture anywhere: prompts ("اقرأ أيضاً", "Share this", cookie banners), copyright lines, a
  site's masthead («الإشراف العام : … رئيس التحرير : …»), menus written with "|", a CMS's field
  dump or link list (Drupal's "admin Sat, 02/17/2018 - 04:51 Pdf p15.pdf …", "PDF pages"), and
  WordPress's trailer ("[…] The post X appeared first on Y."), which is cut off the summary it
  follows while the summary itself stays.
* Furniture at the edges only: short lines with no sentence (menus, headings, date lines, login
  boxes) before the article starts or after it ends. Inside the article such lines are its own
  (dialogue, a list heading ending in ":", a Quran reference, a section number) and stay, so an
  excerpt never jumps between lines that do not follow each other. `formatters.excerpt` decides
  where the edges are; this module only classifies one line at a time.

All tests take raw or cleaned text and are cheap: they run on every paragraph read.
"""
from __future__ import annotations

import re

# Lines that are never the article, whatever their length: prompts at the start of a line...
_PROMPT = re.compile(
    r"[\W_]*(?:"
    r"اقرأ أيض|إقرأ أيض|اقرأ المزيد|إقرأ المزيد|اقرأ ايض|شاهد أيض|طالع أيض|للمزيد"
    r"|اضغط هنا|انقر هنا|اشترك في|اشترك الآن|تابعونا|تابعنا|شارك(?:ها)? (?:على|عبر)"
    r"|جميع الحقوق محفوظة|حقوق النشر"
    r"|read (?:more|also|the full)|see also|related(?: articles| posts| stories)?:"
    r"|continue reading|click here|subscribe (?:to|now)|sign up (?:for|to)|follow us"
    r"|share (?:this|on)|all rights reserved|copyright|advertisement"
    r"|يستخدم هذا الموقع|we use cookies|this (?:site|website) uses cookies"
    r"|nous utilisons des cookies"
    r"|[^.]{0,40} no longer supports|please (?:upgrade|update) your browser|javascript is disabled"
    r")"
)  # matched against lower-cased text: IGNORECASE is slow on Arabic
_PROMPT_SPAN = 40  # a prompt starts within this many characters
# ... and a feed footer or a copyright notice anywhere in it (what is left of a WordPress
# trailer once `strip_trailer` could not separate it from the text).
_FOOTER_WORDS = ("appeared first on", "ظهرت أولاً على", "\u00a9")

# WordPress's feed footer ("The post %s appeared first on %s."; Yoast's default RSS text; in
# Arabic "ظهرت المقالة %s أولاً على %s."). It follows the summary in the same paragraph.
_TRAILER = re.compile(
    r"\s*(?:The post|The article|ظهرت المقالة|ظهر المقال|ظهرت التدوينة)\s.{0,600}?\s"
    r"(?:appeared first on|first appeared on|ظهرت أولاً على|أولاً على|أولا على)\s.{0,300}$",
    re.DOTALL,
)

# A masthead: staff roles followed by a colon («الإشراف العام : …», «رئيس التحرير : …»).
_MASTHEAD_ROLE = re.compile(
    r"(?:الإشراف العام|المشرف العام|رئيس التحرير|رئيسة التحرير|نائب رئيس التحرير|مدير التحرير"
    r"|مديرة التحرير|سكرتير التحرير|رئيس مجلس الإدارة|المدير العام|المدير المسؤول"
    r"|(?i:editor[- ]in[- ]chief|managing editor|executive editor))\s*:"
)  # IGNORECASE only where it matters: it is slow on Arabic
_MASTHEAD_WORDS = 8  # one role and a name is a short line; a sentence quoting an editor is not

# A CMS's fields printed as text: Drupal's "submitted" stamp ("admin Sat, 02/17/2018 - 04:51"),
# PDF page lists, a file name standing in for text.
_CMS_STAMP = re.compile(
    r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2}/\d{1,2}/\d{4} - \d{1,2}:\d{2}\b")
_CMS_LINKS = re.compile(r"\b(?i:PDF pages|Issue Reference|download (?:the )?pdf)\b"
                        r"|(?:الصفحات|صفحات|تحميل) (?i:pdf)")
_FILE_NAME = re.compile(r"\b[\w-]+\.(?i:pdf|docx?|xlsx?|pptx?|zip|rar)\b")

# Page chrome: a short line holding one of these is not used even as a last resort.
_CHROME_PHRASES = (
    "تسجيل الدخول", "تسجيل الخروج", "اسم المستخدم", "كلمة المرور", "كلمة السر", "رمز التحقق",
    "تواصل معنا", "اتصل بنا", "من نحن", "أعلى الصفحة", "إلى الأعلى", "للأعلى",
    "log in", "log out", "sign in", "sign up", "back to top", "about us", "contact us",
)
_CHROME_WORDS = frozenset((
    "أعلى", "الرئيسية", "شارك", "مشاركة", "طباعة", "تعليق", "التعليقات", "بحث", "القائمة",
    "login", "logout", "signin", "signup", "register", "username", "password", "captcha",
    "contact", "home", "top", "share", "tweet", "print", "comment", "comments", "menu",
    "search", "newsletter"
))
_WORD = re.compile(r"\w+")
CHROME_LINE_WORDS = 3  # inside an article, only lines this short can be a button or a menu

# A sentence ends with one of these, possibly followed by closing quotes or brackets.
_TERMINALS = frozenset(".!?\u061f\u2026\u06d4")
_CLOSERS = "\"'\u201d\u2019\u00bb)]\ufd3e"
MIN_WORDS = 4        # fewer words than this is never a paragraph of prose
SENTENCE_WORDS = 15  # this many words counts as prose even without a full stop
COLON_WORDS = 6      # a line this long ending in ":" introduces what follows


def is_prompt(text: str) -> bool:
    """A call to action, a cookie or browser banner, a footer: never the article."""
    lowered = text.lower()
    if _PROMPT.match(lowered, 0, _PROMPT_SPAN) is not None:
        return True
    return any(word in lowered for word in _FOOTER_WORDS)


def is_chrome(text: str) -> bool:
    """Buttons and menus of the page: login boxes, "back to top", share and print links."""
    lowered = text.lower()
    if any(phrase in lowered for phrase in _CHROME_PHRASES):
        return True
    return not _CHROME_WORDS.isdisjoint(_WORD.findall(lowered))


def is_menu(text: str) -> bool:
    """"Home | World | Politics", or a masthead written on one line with bars."""
    return text.count("|") >= 2


def is_masthead(text: str) -> bool:
    """A site's staff list: «الإشراف العام : إلهام أبو الفتح | رئيس التحرير : محمود مكاوي»."""
    if ":" not in text:
        return False
    roles = _MASTHEAD_ROLE.findall(text)
    if len(roles) >= 2:
        return True
    return bool(roles) and len(text.split()) <= _MASTHEAD_WORDS and \
        _MASTHEAD_ROLE.match(text.lstrip(" -–—•*|")) is not None


def is_cms_dump(text: str) -> bool:
    """A CMS's fields or file links printed as text (Drupal stamps, "PDF pages", "p15.pdf")."""
    if "/" in text and _CMS_STAMP.search(text):
        return True
    if ("PDF" in text or "pdf" in text or "Pdf" in text or "Issue" in text) \
            and _CMS_LINKS.search(text):
        return True
    return "." in text and not ends_sentence(text) and _FILE_NAME.search(text) is not None


def ends_sentence(text: str) -> bool:
    """Whether the line ends with a sentence's end, maybe inside closing quotes."""
    return text.rstrip(_CLOSERS)[-1:] in _TERMINALS


def is_prose(text: str) -> bool:
    """A paragraph of prose: four words or more, ending a sentence or fifteen words long; or a
    sentence introducing what follows ("… the new version brings:"), which is not page chrome
    ("اسم المستخدم : كلمة المرور :")."""
    if is_menu(text):
        return False
    words = len(text.split())
    if words < MIN_WORDS:
        return False
    if words >= SENTENCE_WORDS or ends_sentence(text):
        return True
    return words >= COLON_WORDS and text.rstrip().endswith(":") and not is_chrome(text)


def strip_trailer(text: str) -> str:
    """The text without WordPress's "The post … appeared first on …" footer.

    The summary before it is kept (with the "[…]" that marks where the CMS cut it, which the
    excerpt then treats as the publisher's cut); only the footer goes.
    """
    if "appeared" not in text and not ("ظهر" in text and "على" in text):
        return text  # a cheap look first: this runs on every paragraph
    return _TRAILER.sub("", text)
