/* check_cfgtab.c: unit tests for the configuration tables (src/common/cfgtab.c): every type, defaults,
 * the one error shape, unknown and missing keys, lists of groups, copy, compare, diff, schema and a
 * template that reads back to the defaults. */
#include <config.h>

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgtab.h"
#include "check_cfg.h"
#include "check_main.h"

struct item {
	char *name;
	long weight;
	int seen; /* set by check_item */
};

struct inner {
	long depth;
	int on;
};

struct obj {
	int flag;
	long count;
	double ratio;
	char *text;
	char *path;
	int color;
	long mode;
	char *tags[3];
	size_t ntags;
	int codes[4];
	size_t ncodes;
	struct inner inner;
	struct item items[2];
	size_t nitems;
	long custom;
	int custom_cleared;
};

static const int default_codes[] = { 1, 2 };
static const char *const colors[] = { "red", "green", NULL };
static const int color_values[] = { 10, 20 };

static int check_text(void *field, void *obj, const config_setting_t *m, struct cfgtab_err *e)
{
	(void)obj;
	if (strcmp(*(char **)field, "bad") == 0)
		return cfgtab_fail(e, m, "must not be bad");
	return 0;
}

static int check_item(void *o, const config_setting_t *s, struct cfgtab_err *e)
{
	struct item *it = o;

	it->seen = 1;
	if (it->weight > 5 && it->name == NULL)
		return cfgtab_fail_member(e, s, "name", "missing (needed with a weight above 5)");
	return 0;
}

static int parse_custom(const config_setting_t *m, void *o, struct cfgtab_err *e)
{
	struct obj *x = o;

	if (config_setting_type(m) != CONFIG_TYPE_INT)
		return cfgtab_fail(e, m, "must be an integer of my own");
	x->custom = config_setting_get_int(m) * 2;
	return 0;
}

static void clear_custom(void *o)
{
	((struct obj *)o)->custom_cleared++;
}

static const struct cfgtab_key inner_keys[] = {
	CFGTAB_INT_KEY(struct inner, depth, "depth", 3, 1, 9, CFGTAB_RESTART, "how deep"),
	CFGTAB_BOOL_KEY(struct inner, on, "on", 1, 0, "on or off"),
};
static const struct cfgtab_section inner_section =
        CFGTAB_SECTION("t.inner", struct inner, inner_keys, NULL, "an inner group");

static const struct cfgtab_key item_keys[] = {
	CFGTAB_STRING_KEY(struct item, name, "name", NULL, 16, 0, NULL, "\"a\"", "its name"),
	CFGTAB_INT_KEY(struct item, weight, "weight", 1, 0, 10, 0, "its weight"),
};
static const struct cfgtab_section item_section =
        CFGTAB_SECTION("t.items[]", struct item, item_keys, check_item, "an item");

#define O struct obj
static const struct cfgtab_key obj_keys[] = {
	CFGTAB_BOOL_KEY(O, flag, "flag", 0, 0, "a flag"),
	CFGTAB_INT_KEY(O, count, "count", 7, -5, 100, CFGTAB_RESTART, "a count"),
	CFGTAB_DOUBLE_KEY(O, ratio, "ratio", 0.5, 0, 2, 0, "a ratio"),
	CFGTAB_STRING_KEY(O, text, "text", "hello", 8, 0, check_text, NULL, "a text"),
	CFGTAB_STRING_KEY(O, path, "path", NULL, 64, CFGTAB_ABSPATH | CFGTAB_RESTART, NULL, "\"/x\"",
	                  "a path"),
	CFGTAB_ENUM_KEY(O, color, "color", 20, colors, color_values, 0, "a color"),
	CFGTAB_OCTAL_KEY(O, mode, "mode", 0640, 0, 0777, 0, "a mode"),
	CFGTAB_STRINGS_KEY(O, tags, ntags, "tags", 3, 8, 0, NULL, "[ \"a\" ]", "some tags"),
	CFGTAB_INTS_KEY(O, codes, ncodes, "codes", default_codes, 2, 4, 0, 99, 0, NULL, "some codes"),
	CFGTAB_GROUP_KEY("inner", offsetof(O, inner), &inner_section, 0, "the inner group"),
	CFGTAB_LIST_KEY(O, items, nitems, "items", 2, &item_section, CFGTAB_RESTART, NULL, "the items"),
	CFGTAB_CUSTOM_KEY("custom", parse_custom, clear_custom, 0, "an integer of mine", "4", "a custom key"),
};
#undef O
static const struct cfgtab_section obj_section =
        CFGTAB_SECTION("t", struct obj, obj_keys, NULL, "a test section");

static struct obj o, o2;
static char err[400];

static int rd(const char *text, struct obj *out)
{
	return check_cfg_read(&obj_section, text, "t", out, err, sizeof err);
}

static void teardown(void)
{
	cfgtab_clear(&obj_section, &o);
	cfgtab_clear(&obj_section, &o2);
}

START_TEST(defaults)
{
	ck_assert_int_eq(rd(NULL, &o), 0);
	ck_assert_int_eq(o.flag, 0);
	ck_assert_int_eq(o.count, 7);
	ck_assert(o.ratio == 0.5);
	ck_assert_str_eq(o.text, "hello");
	ck_assert_ptr_null(o.path);
	ck_assert_int_eq(o.color, 20);
	ck_assert_int_eq(o.mode, 0640);
	ck_assert_uint_eq(o.ntags, 0);
	ck_assert_uint_eq(o.ncodes, 2);
	ck_assert_int_eq(o.codes[1], 2);
	ck_assert_int_eq(o.inner.depth, 3);
	ck_assert_int_eq(o.inner.on, 1);
	ck_assert_uint_eq(o.nitems, 0);
	/* an empty group is the same */
	ck_assert_int_eq(rd("t = { };", &o2), 0);
	ck_assert(cfgtab_equal(&obj_section, &o, &o2));
}
END_TEST

START_TEST(values)
{
	ck_assert_int_eq(rd("t = { flag = true; count = -5; ratio = 2; text = \"ok\"; path = \"/a/b\";\n"
	                    "  color = \"red\"; mode = \"0777\"; tags = [ \"x\", \"y\" ]; codes = ( 9 );\n"
	                    "  inner = { depth = 9; on = false; };\n"
	                    "  items = ( { name = \"n\"; weight = 7; }, { } ); custom = 21; };",
	                    &o),
	                 0);
	ck_assert_int_eq(o.flag, 1);
	ck_assert_int_eq(o.count, -5);
	ck_assert(o.ratio == 2.0);
	ck_assert_str_eq(o.text, "ok");
	ck_assert_str_eq(o.path, "/a/b");
	ck_assert_int_eq(o.color, 10);
	ck_assert_int_eq(o.mode, 0777);
	ck_assert_uint_eq(o.ntags, 2);
	ck_assert_str_eq(o.tags[1], "y");
	ck_assert_uint_eq(o.ncodes, 1);
	ck_assert_int_eq(o.codes[0], 9);
	ck_assert_int_eq(o.inner.depth, 9);
	ck_assert_int_eq(o.inner.on, 0);
	ck_assert_uint_eq(o.nitems, 2);
	ck_assert_str_eq(o.items[0].name, "n");
	ck_assert_int_eq(o.items[0].weight, 7);
	ck_assert_ptr_null(o.items[1].name);
	ck_assert_int_eq(o.items[1].weight, 1); /* each entry starts at the defaults */
	ck_assert_int_eq(o.items[1].seen, 1);   /* and is checked */
	ck_assert_int_eq(o.custom, 42);
	/* a 64-bit integer is taken where it fits */
	ck_assert_int_eq(rd("t = { count = 100L; };", &o2), 0);
	ck_assert_int_eq(o2.count, 100);
}
END_TEST

static const struct {
	const char *text, *err;
} bad[] = {
	{ "t = 1;", "t.conf:1: t: must be a group { ... }" },
	{ "t = {\n nope = 1; };", "t.conf:2: t.nope: unknown key" },
	{ "t = { flag = 1; };", "t.conf:1: t.flag: must be true or false" },
	{ "t = { count = 101; };", "t.conf:1: t.count: must be an integer in -5..100" },
	{ "t = { count = \"1\"; };", "t.conf:1: t.count: must be an integer in -5..100" },
	{ "t = { count = 1.0; };", "t.conf:1: t.count: must be an integer in -5..100" },
	{ "t = { count = 9999999999999L; };", "t.conf:1: t.count: must be an integer in -5..100" },
	{ "t = { ratio = 2.5; };", "t.conf:1: t.ratio: must be a number in 0..2" },
	{ "t = { ratio = true; };", "t.conf:1: t.ratio: must be a number in 0..2" },
	{ "t = { text = 5; };", "t.conf:1: t.text: must be a string" },
	{ "t = { text = \"\"; };", "t.conf:1: t.text: must be a non-empty string of at most 8 bytes" },
	{ "t = { text = \"123456789\"; };",
	  "t.conf:1: t.text: must be a non-empty string of at most 8 bytes" },
	{ "t = { text = \"a\\tb\"; };", "t.conf:1: t.text: must not contain control characters" },
	{ "t = { text = \"bad\"; };", "t.conf:1: t.text: must not be bad" },
	{ "t = { path = \"rel\"; };", "t.conf:1: t.path: must be an absolute path" },
	{ "t = { color = \"blue\"; };", "t.conf:1: t.color: must be one of \"red\", \"green\"" },
	{ "t = { color = 1; };", "t.conf:1: t.color: must be one of \"red\", \"green\"" },
	{ "t = { mode = \"640\"; };",
	  "t.conf:1: t.mode: must be an octal string such as \"0640\" (0..0777)" },
	{ "t = { mode = \"01000\"; };",
	  "t.conf:1: t.mode: must be an octal string such as \"0640\" (0..0777)" },
	{ "t = { mode = \"0658\"; };",
	  "t.conf:1: t.mode: must be an octal string such as \"0640\" (0..0777)" },
	{ "t = { mode = 416; };", "t.conf:1: t.mode: must be an octal string such as \"0640\" (0..0777)" },
	{ "t = { tags = \"a\"; };", "t.conf:1: t.tags: must be an array of strings [ \"...\" ]" },
	{ "t = { tags = [ \"a\", \"b\", \"c\", \"d\" ]; };", "t.conf:1: t.tags: at most 3 entries" },
	{ "t = { tags = ( \"a\",\n 5 ); };", "t.conf:2: t.tags[2]: must be a string" },
	{ "t = { codes = [ 1, 100 ]; };", "t.conf:1: t.codes[2]: must be an integer in 0..99" },
	{ "t = { codes = [ 1, 2, 3, 4, 5 ]; };", "t.conf:1: t.codes: at most 4 entries" },
	{ "t = { inner = 1; };", "t.conf:1: t.inner: must be a group { ... }" },
	{ "t = { inner = {\n depth = 0; }; };", "t.conf:2: t.inner.depth: must be an integer in 1..9" },
	{ "t = { inner = { x = 0; }; };", "t.conf:1: t.inner.x: unknown key" },
	{ "t = { items = [ 1 ]; };", "t.conf:1: t.items: must be a list ( { ... }, ... )" },
	{ "t = { items = ( { }, { }, { } ); };", "t.conf:1: t.items: at most 2 entries" },
	{ "t = { items = ( { },\n 1 ); };", "t.conf:2: t.items[2]: must be a group { ... }" },
	{ "t = { items = ( { name = \"a\"; }, {\n weight = 9; } ); };",
	  "t.conf:1: t.items[2].name: missing (needed with a weight above 5)" },
	{ "t = { items = ( { name = \"a\"; wait = 1; } ); };", "t.conf:1: t.items[1].wait: unknown key" },
	{ "t = { custom = \"x\"; };", "t.conf:1: t.custom: must be an integer of my own" },
};

START_TEST(errors)
{
	ck_assert_int_eq(rd(bad[_i].text, &o), -1);
	ck_assert_str_eq(err, bad[_i].err);
	/* a failed read leaves nothing to free and a zeroed object */
	ck_assert_ptr_null(o.text);
	ck_assert_uint_eq(o.ntags, 0);
	ck_assert_uint_eq(o.nitems, 0);
	ck_assert_int_eq(o.count, 0);
}
END_TEST

START_TEST(errors_never_show_values)
{
	ck_assert_int_eq(rd("t = { text = \"s3cr3t-value\"; count = \"s3cr3t-value\"; };", &o), -1);
	ck_assert_ptr_null(strstr(err, "s3cr3t"));
	ck_assert_int_eq(rd("t = { color = \"s3cr3t-value\"; };", &o), -1);
	ck_assert_ptr_null(strstr(err, "s3cr3t"));
}
END_TEST

static const struct cfgtab_key req_keys[] = {
	CFGTAB_STRING_KEY(struct item, name, "name", NULL, 16, CFGTAB_REQUIRED, NULL, NULL, "required name"),
	CFGTAB_ENUM_KEY(struct obj, color, "color", 0, colors, color_values, CFGTAB_REQUIRED,
	                "required color"),
};

START_TEST(required)
{
	struct cfgtab_section one = CFGTAB_SECTION("r", struct item, req_keys, NULL, NULL);
	struct item it;

	one.nkeys = 1;
	ck_assert_int_eq(check_cfg_read(&one, "r = {\n};", "r", &it, err, sizeof err), -1);
	ck_assert_str_eq(err, "t.conf:1: r.name: missing");
	/* an absent section has nothing missing */
	ck_assert_int_eq(check_cfg_read(&one, NULL, "r", &it, err, sizeof err), 0);
	cfgtab_clear(&one, &it);
}
END_TEST

START_TEST(required_enum_names_values)
{
	struct cfgtab_section one = CFGTAB_SECTION("r", struct obj, req_keys, NULL, NULL);

	one.keys = req_keys + 1;
	one.nkeys = 1;
	ck_assert_int_eq(check_cfg_read(&one, "r = { };", "r", &o, err, sizeof err), -1);
	ck_assert_str_eq(err, "t.conf:1: r.color: missing: one of \"red\", \"green\"");
}
END_TEST

START_TEST(custom_clear)
{
	ck_assert_int_eq(rd("t = { custom = 1; };", &o), 0);
	cfgtab_clear(&obj_section, &o);
	ck_assert_int_eq(o.custom_cleared, 1);
	cfgtab_clear(&obj_section, NULL);
}
END_TEST

static char changed[8][CFGTAB_KEY_MAX];
static size_t nchanged;

static void on_changed(const char *key, void *arg)
{
	(void)arg;
	if (nchanged < 8)
		snprintf(changed[nchanged], sizeof changed[0], "%s", key);
	nchanged++;
}

START_TEST(copy_equal_diff)
{
	static const struct cfgtab_key plain[] = {
		CFGTAB_STRING_KEY(struct item, name, "name", "x", 16, CFGTAB_RESTART, NULL, NULL, "a name"),
		CFGTAB_INT_KEY(struct item, weight, "weight", 1, 0, 10, 0, "a weight"),
	};
	const struct cfgtab_section sec = CFGTAB_SECTION("p", struct item, plain, NULL, NULL);
	struct item a, b;

	ck_assert_int_eq(
	        check_cfg_read(&sec, "p = { name = \"abc\"; weight = 3; };", "p", &a, err, sizeof err), 0);
	ck_assert_int_eq(cfgtab_copy(&sec, &b, &a), 0);
	ck_assert_ptr_ne(a.name, b.name); /* a copy, not a borrow */
	ck_assert(cfgtab_equal(&sec, &a, &b));
	free(b.name);
	b.name = strdup("abd");
	ck_assert(!cfgtab_equal(&sec, &a, &b));
	nchanged = 0;
	ck_assert_uint_eq(cfgtab_diff(&sec, &a, &b, CFGTAB_RESTART, on_changed, NULL), 1);
	ck_assert_str_eq(changed[0], "p.name");
	b.weight = 4; /* not flagged: not reported */
	ck_assert_uint_eq(cfgtab_diff(&sec, &a, &b, CFGTAB_RESTART, on_changed, NULL), 1);
	cfgtab_clear(&sec, &a);
	cfgtab_clear(&sec, &b);
}
END_TEST

START_TEST(diff_groups_and_lists)
{
	ck_assert_int_eq(rd("t = { count = 1; inner = { depth = 2; }; items = ( { weight = 2; } ); };", &o),
	                 0);
	ck_assert_int_eq(
	        rd("t = { count = 1; inner = { depth = 4; on = false; }; items = ( { weight = 3; } ); };",
	           &o2),
	        0);
	nchanged = 0;
	ck_assert_uint_eq(cfgtab_diff(&obj_section, &o, &o2, CFGTAB_RESTART, on_changed, NULL), 2);
	ck_assert_str_eq(changed[0], "t.inner.depth"); /* inner.on changed too, but needs no restart */
	ck_assert_str_eq(changed[1], "t.items");
}
END_TEST

START_TEST(schema)
{
	char *json = cfgtab_schema_json(&obj_section);
	json_error_t je;
	json_t *a = json_loads(json, 0, &je), *k;
	size_t i;
	int found = 0;

	ck_assert_ptr_nonnull(a);
	json_array_foreach(a, i, k)
	{
		const char *key = json_string_value(json_object_get(k, "key"));

		if (strcmp(key, "t.count") == 0) {
			ck_assert_str_eq(json_string_value(json_object_get(k, "type")), "integer");
			ck_assert_str_eq(json_string_value(json_object_get(k, "default")), "7");
			ck_assert_int_eq(json_integer_value(json_object_get(k, "min")), -5);
			ck_assert_int_eq(json_integer_value(json_object_get(k, "max")), 100);
			ck_assert(json_is_true(json_object_get(k, "restart")));
			ck_assert_str_eq(json_string_value(json_object_get(k, "doc")), "a count");
			found++;
		}
		if (strcmp(key, "t.color") == 0) {
			ck_assert_str_eq(json_string_value(json_object_get(k, "default")), "\"green\"");
			ck_assert_uint_eq(json_array_size(json_object_get(k, "values")), 2);
			found++;
		}
		if (strcmp(key, "t.items[].weight") == 0 || strcmp(key, "t.inner.depth") == 0 ||
		    strcmp(key, "t.mode") == 0)
			found++;
		if (strcmp(key, "t.mode") == 0)
			ck_assert_str_eq(json_string_value(json_object_get(k, "default")), "\"0640\"");
		if (strcmp(key, "t.path") == 0)
			ck_assert_ptr_null(json_object_get(k, "default"));
	}
	ck_assert_int_eq(found, 5);
	json_decref(a);
	free(json);
}
END_TEST

/* The template is a valid file; with its commented lines taken in, it reads back to the defaults. */
START_TEST(template_reads_back)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct cfgtab_err e;
	config_t c;

	ck_assert_int_eq(cfgtab_template(&obj_section, "header\nsecond line", f), 0);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(buf, "# header\n# second line\n"));
	ck_assert_ptr_nonnull(strstr(buf, "count = 7;  # a count (-5..100) [restart]\n"));
	ck_assert_ptr_nonnull(strstr(buf, "# path = \"/x\";  # a path [restart]\n"));
	ck_assert_ptr_nonnull(strstr(buf, "color = \"green\";  # a color (red, green)\n"));
	/* as written (the section is the root of the file): the shown keys, at their defaults */
	config_init(&c);
	ck_assert_msg(config_read_string(&c, buf) == CONFIG_TRUE, "%s", buf);
	ck_assert_msg(cfgtab_read(&obj_section, config_root_setting(&c), &o, &e) == 0, "%s: %s", e.key,
	              e.what);
	config_destroy(&c);
	ck_assert_int_eq(rd(NULL, &o2), 0);
	ck_assert(cfgtab_equal(&obj_section, &o, &o2));
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cfgtab");
	TCase *tc = tcase_create("cfgtab");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, values);
	tcase_add_loop_test(tc, errors, 0, (int)(sizeof bad / sizeof bad[0]));
	tcase_add_test(tc, errors_never_show_values);
	tcase_add_test(tc, required);
	tcase_add_test(tc, required_enum_names_values);
	tcase_add_test(tc, custom_clear);
	tcase_add_test(tc, copy_equal_diff);
	tcase_add_test(tc, diff_groups_and_lists);
	tcase_add_test(tc, schema);
	tcase_add_test(tc, template_reads_back);
	suite_add_tcase(s, tc);
	return check_run(s);
}
