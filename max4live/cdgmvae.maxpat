{
	"patcher": {
		"fileversion": 1,
		"appversion": {
			"major": 8,
			"minor": 6,
			"revision": 0,
			"architecture": "x64",
			"modernui": 1
		},
		"classnamespace": "box",
		"rect": [
			100.0,
			100.0,
			1000.0,
			600.0
		],
		"openinpresentation": 1,
		"devicewidth": 522.0,
		"default_fontsize": 10.0,
		"default_fontname": "Arial Bold",
		"gridsize": [
			8.0,
			8.0
		],
		"description": "cdgmvae: steer the live emotion-driven generator (OSC to `cdgmvae live`)",
		"boxes": [
			{
				"box": {
					"id": "obj-1",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"int"
					],
					"patching_rect": [
						20.0,
						20.0,
						150.0,
						22.0
					],
					"text": "midiin"
				}
			},
			{
				"box": {
					"id": "obj-2",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [],
					"patching_rect": [
						180.0,
						20.0,
						150.0,
						22.0
					],
					"text": "midiout"
				}
			},
			{
				"box": {
					"id": "obj-3",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [],
					"patching_rect": [
						340.0,
						20.0,
						150.0,
						22.0
					],
					"text": "udpsend 127.0.0.1 9000"
				}
			},
			{
				"box": {
					"id": "obj-4",
					"maxclass": "live.dial",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						"float"
					],
					"parameter_enable": 1,
					"patching_rect": [
						500.0,
						20.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						8.0,
						4.0,
						44.0,
						48.0
					],
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_initial": [
								0.5
							],
							"parameter_initial_enable": 1,
							"parameter_longname": "valence",
							"parameter_mmax": 1.0,
							"parameter_mmin": 0.0,
							"parameter_shortname": "Valence",
							"parameter_type": 0,
							"parameter_unitstyle": 1
						}
					},
					"varname": "valence"
				}
			},
			{
				"box": {
					"id": "obj-5",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						660.0,
						20.0,
						150.0,
						22.0
					],
					"text": "prepend /cdgmvae/valence"
				}
			},
			{
				"box": {
					"id": "obj-6",
					"maxclass": "live.dial",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						"float"
					],
					"parameter_enable": 1,
					"patching_rect": [
						820.0,
						20.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						60.0,
						4.0,
						44.0,
						48.0
					],
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_initial": [
								0.5
							],
							"parameter_initial_enable": 1,
							"parameter_longname": "arousal",
							"parameter_mmax": 1.0,
							"parameter_mmin": 0.0,
							"parameter_shortname": "Arousal",
							"parameter_type": 0,
							"parameter_unitstyle": 1
						}
					},
					"varname": "arousal"
				}
			},
			{
				"box": {
					"id": "obj-7",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						20.0,
						60.0,
						150.0,
						22.0
					],
					"text": "prepend /cdgmvae/arousal"
				}
			},
			{
				"box": {
					"id": "obj-8",
					"maxclass": "live.dial",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						"float"
					],
					"parameter_enable": 1,
					"patching_rect": [
						180.0,
						60.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						112.0,
						4.0,
						44.0,
						48.0
					],
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_initial": [
								0.5
							],
							"parameter_initial_enable": 1,
							"parameter_longname": "lambda",
							"parameter_mmax": 1.0,
							"parameter_mmin": 0.0,
							"parameter_shortname": "Lambda",
							"parameter_type": 0,
							"parameter_unitstyle": 1
						}
					},
					"varname": "lambda"
				}
			},
			{
				"box": {
					"id": "obj-9",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						340.0,
						60.0,
						150.0,
						22.0
					],
					"text": "prepend /cdgmvae/lambda"
				}
			},
			{
				"box": {
					"id": "obj-10",
					"maxclass": "live.dial",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						"float"
					],
					"parameter_enable": 1,
					"patching_rect": [
						500.0,
						60.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						164.0,
						4.0,
						44.0,
						48.0
					],
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_initial": [
								1.0
							],
							"parameter_initial_enable": 1,
							"parameter_longname": "temperature",
							"parameter_mmax": 2.0,
							"parameter_mmin": 0.1,
							"parameter_shortname": "Temp",
							"parameter_type": 0,
							"parameter_unitstyle": 1
						}
					},
					"varname": "temperature"
				}
			},
			{
				"box": {
					"id": "obj-11",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						660.0,
						60.0,
						150.0,
						22.0
					],
					"text": "prepend /cdgmvae/temperature"
				}
			},
			{
				"box": {
					"id": "obj-12",
					"maxclass": "live.dial",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						"float"
					],
					"parameter_enable": 1,
					"patching_rect": [
						820.0,
						60.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						216.0,
						4.0,
						44.0,
						48.0
					],
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_initial": [
								3.0
							],
							"parameter_initial_enable": 1,
							"parameter_longname": "key_strength",
							"parameter_mmax": 4.0,
							"parameter_mmin": 0.0,
							"parameter_shortname": "Key",
							"parameter_type": 0,
							"parameter_unitstyle": 1
						}
					},
					"varname": "key_strength"
				}
			},
			{
				"box": {
					"id": "obj-13",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						20.0,
						100.0,
						150.0,
						22.0
					],
					"text": "prepend /cdgmvae/key_strength"
				}
			},
			{
				"box": {
					"id": "obj-14",
					"maxclass": "live.tab",
					"num_lines_patching": 1,
					"num_lines_presentation": 1,
					"numinlets": 1,
					"numoutlets": 3,
					"outlettype": [
						"",
						"",
						"float"
					],
					"parameter_enable": 1,
					"patching_rect": [
						180.0,
						100.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						8.0,
						58.0,
						204.0,
						20.0
					],
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_enum": [
								"happy",
								"tense",
								"sad",
								"calm"
							],
							"parameter_longname": "emotion",
							"parameter_mmax": 3,
							"parameter_shortname": "Emotion",
							"parameter_type": 2
						}
					},
					"varname": "emotion"
				}
			},
			{
				"box": {
					"id": "obj-15",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 5,
					"outlettype": [
						"bang",
						"bang",
						"bang",
						"bang",
						""
					],
					"patching_rect": [
						340.0,
						100.0,
						150.0,
						22.0
					],
					"text": "sel 0 1 2 3"
				}
			},
			{
				"box": {
					"id": "obj-16",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						500.0,
						100.0,
						150.0,
						22.0
					],
					"text": "/cdgmvae/emotion happy"
				}
			},
			{
				"box": {
					"id": "obj-17",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						660.0,
						100.0,
						150.0,
						22.0
					],
					"text": "/cdgmvae/emotion tense"
				}
			},
			{
				"box": {
					"id": "obj-18",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						820.0,
						100.0,
						150.0,
						22.0
					],
					"text": "/cdgmvae/emotion sad"
				}
			},
			{
				"box": {
					"id": "obj-19",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						20.0,
						140.0,
						150.0,
						22.0
					],
					"text": "/cdgmvae/emotion calm"
				}
			},
			{
				"box": {
					"id": "obj-20",
					"maxclass": "live.text",
					"mode": 1,
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						""
					],
					"parameter_enable": 1,
					"patching_rect": [
						180.0,
						140.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						8.0,
						84.0,
						64.0,
						20.0
					],
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_enum": [
								"off",
								"on"
							],
							"parameter_longname": "play",
							"parameter_mmax": 1,
							"parameter_shortname": "Play",
							"parameter_type": 2
						}
					},
					"text": "Play",
					"texton": "Playing",
					"varname": "play"
				}
			},
			{
				"box": {
					"id": "obj-21",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						340.0,
						140.0,
						150.0,
						22.0
					],
					"text": "prepend /cdgmvae/play"
				}
			},
			{
				"box": {
					"id": "obj-22",
					"maxclass": "live.text",
					"mode": 1,
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						""
					],
					"parameter_enable": 1,
					"patching_rect": [
						500.0,
						140.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						216.0,
						58.0,
						52.0,
						20.0
					],
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_enum": [
								"off",
								"on"
							],
							"parameter_longname": "transfer",
							"parameter_mmax": 1,
							"parameter_shortname": "Transfer",
							"parameter_type": 2
						}
					},
					"text": "Transfer",
					"texton": "Transfer",
					"varname": "transfer"
				}
			},
			{
				"box": {
					"id": "obj-23",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						660.0,
						140.0,
						150.0,
						22.0
					],
					"text": "prepend /cdgmvae/transfer"
				}
			},
			{
				"box": {
					"id": "obj-24",
					"maxclass": "live.text",
					"mode": 0,
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						""
					],
					"parameter_enable": 1,
					"patching_rect": [
						820.0,
						140.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						80.0,
						84.0,
						64.0,
						20.0
					],
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_enum": [
								"off",
								"on"
							],
							"parameter_invisible": 2,
							"parameter_longname": "panic",
							"parameter_mmax": 1,
							"parameter_shortname": "Panic",
							"parameter_type": 2
						}
					},
					"text": "Panic",
					"texton": "Panic",
					"varname": "panic"
				}
			},
			{
				"box": {
					"id": "obj-25",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"bang"
					],
					"patching_rect": [
						20.0,
						180.0,
						150.0,
						22.0
					],
					"text": "t b"
				}
			},
			{
				"box": {
					"id": "obj-26",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						180.0,
						180.0,
						150.0,
						22.0
					],
					"text": "/cdgmvae/panic"
				}
			},
			{
				"box": {
					"id": "obj-27",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [],
					"patching_rect": [
						340.0,
						180.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						152.0,
						86.0,
						34.0,
						18.0
					],
					"text": "tonic"
				}
			},
			{
				"box": {
					"id": "obj-28",
					"maxclass": "live.menu",
					"numinlets": 1,
					"numoutlets": 3,
					"outlettype": [
						"",
						"",
						"float"
					],
					"parameter_enable": 1,
					"patching_rect": [
						500.0,
						180.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						186.0,
						84.0,
						56.0,
						20.0
					],
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_enum": [
								"C",
								"C#",
								"D",
								"Eb",
								"E",
								"F",
								"F#",
								"G",
								"Ab",
								"A",
								"Bb",
								"B"
							],
							"parameter_longname": "tonic",
							"parameter_mmax": 11,
							"parameter_shortname": "Tonic",
							"parameter_type": 2
						}
					},
					"varname": "tonic"
				}
			},
			{
				"box": {
					"id": "obj-29",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						660.0,
						180.0,
						150.0,
						22.0
					],
					"text": "prepend /cdgmvae/tonic"
				}
			},
			{
				"box": {
					"id": "obj-30",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						820.0,
						180.0,
						150.0,
						22.0
					],
					"text": "udpreceive 9001"
				}
			},
			{
				"box": {
					"id": "obj-31",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [],
					"patching_rect": [
						20.0,
						220.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						8.0,
						112.0,
						40.0,
						18.0
					],
					"text": "host"
				}
			},
			{
				"box": {
					"id": "obj-32",
					"keymode": 1,
					"lines": 1,
					"maxclass": "textedit",
					"numinlets": 1,
					"numoutlets": 4,
					"outlettype": [
						"",
						"int",
						"",
						""
					],
					"patching_rect": [
						180.0,
						220.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						8.0,
						128.0,
						84.0,
						20.0
					],
					"tabmode": 0,
					"varname": "host_field",
					"wordwrap": 0
				}
			},
			{
				"box": {
					"id": "obj-33",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 2,
					"outlettype": [
						"",
						""
					],
					"patching_rect": [
						340.0,
						220.0,
						150.0,
						22.0
					],
					"text": "route text"
				}
			},
			{
				"box": {
					"id": "obj-34",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 3,
					"outlettype": [
						"",
						"",
						""
					],
					"patching_rect": [
						500.0,
						220.0,
						150.0,
						22.0
					],
					"restore": [
						"127.0.0.1"
					],
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_invisible": 1,
							"parameter_longname": "host",
							"parameter_shortname": "host",
							"parameter_type": 3
						}
					},
					"saved_object_attributes": {
						"parameter_enable": 1,
						"parameter_mappable": 0
					},
					"text": "pattr @parameter_enable 1",
					"varname": "host"
				}
			},
			{
				"box": {
					"id": "obj-35",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						660.0,
						220.0,
						150.0,
						22.0
					],
					"text": "prepend host"
				}
			},
			{
				"box": {
					"id": "obj-36",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						820.0,
						220.0,
						150.0,
						22.0
					],
					"text": "prepend set"
				}
			},
			{
				"box": {
					"id": "obj-37",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [],
					"patching_rect": [
						20.0,
						260.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						96.0,
						112.0,
						56.0,
						18.0
					],
					"text": "port"
				}
			},
			{
				"box": {
					"id": "obj-38",
					"maxclass": "live.numbox",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						"float"
					],
					"parameter_enable": 1,
					"patching_rect": [
						180.0,
						260.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						96.0,
						128.0,
						52.0,
						20.0
					],
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_initial": [
								9000
							],
							"parameter_initial_enable": 1,
							"parameter_invisible": 1,
							"parameter_longname": "port",
							"parameter_mmax": 65535.0,
							"parameter_mmin": 1.0,
							"parameter_shortname": "port",
							"parameter_type": 0,
							"parameter_unitstyle": 0
						}
					},
					"varname": "port"
				}
			},
			{
				"box": {
					"id": "obj-39",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						"int"
					],
					"patching_rect": [
						340.0,
						260.0,
						150.0,
						22.0
					],
					"text": "i"
				}
			},
			{
				"box": {
					"id": "obj-40",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						500.0,
						260.0,
						150.0,
						22.0
					],
					"text": "prepend port"
				}
			},
			{
				"box": {
					"id": "obj-41",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [],
					"patching_rect": [
						660.0,
						260.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						152.0,
						112.0,
						56.0,
						18.0
					],
					"text": "feedback"
				}
			},
			{
				"box": {
					"id": "obj-42",
					"maxclass": "live.numbox",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						"float"
					],
					"parameter_enable": 1,
					"patching_rect": [
						820.0,
						260.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						152.0,
						128.0,
						52.0,
						20.0
					],
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_initial": [
								9001
							],
							"parameter_initial_enable": 1,
							"parameter_invisible": 1,
							"parameter_longname": "feedback_port",
							"parameter_mmax": 65535.0,
							"parameter_mmin": 1.0,
							"parameter_shortname": "feedback",
							"parameter_type": 0,
							"parameter_unitstyle": 0
						}
					},
					"varname": "feedback_port"
				}
			},
			{
				"box": {
					"id": "obj-43",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						"int"
					],
					"patching_rect": [
						20.0,
						300.0,
						150.0,
						22.0
					],
					"text": "i"
				}
			},
			{
				"box": {
					"id": "obj-44",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						180.0,
						300.0,
						150.0,
						22.0
					],
					"text": "prepend port"
				}
			},
			{
				"box": {
					"id": "obj-45",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 13,
					"outlettype": [
						"",
						"",
						"",
						"",
						"",
						"",
						"",
						"",
						"",
						"",
						"",
						"",
						""
					],
					"patching_rect": [
						340.0,
						300.0,
						150.0,
						22.0
					],
					"text": "route /cdgmvae/fb/bar /cdgmvae/fb/tempo /cdgmvae/fb/emotion /cdgmvae/fb/valence /cdgmvae/fb/arousal /cdgmvae/fb/lambda /cdgmvae/fb/playing /cdgmvae/fb/missed /cdgmvae/fb/tonic /cdgmvae/fb/temperature /cdgmvae/fb/key_strength /cdgmvae/fb/transfer"
				}
			},
			{
				"box": {
					"id": "obj-46",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [],
					"patching_rect": [
						500.0,
						300.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						276.0,
						4.0,
						54.0,
						18.0
					],
					"text": "bar"
				}
			},
			{
				"box": {
					"id": "obj-47",
					"ignoreclick": 1,
					"maxclass": "number",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						"bang"
					],
					"patching_rect": [
						660.0,
						300.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						332.0,
						4.0,
						64.0,
						20.0
					],
					"varname": "fb_bar"
				}
			},
			{
				"box": {
					"id": "obj-48",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [],
					"patching_rect": [
						820.0,
						300.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						276.0,
						30.0,
						54.0,
						18.0
					],
					"text": "tempo"
				}
			},
			{
				"box": {
					"format": 6,
					"id": "obj-49",
					"ignoreclick": 1,
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						"bang"
					],
					"patching_rect": [
						20.0,
						340.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						332.0,
						30.0,
						64.0,
						20.0
					],
					"varname": "fb_tempo"
				}
			},
			{
				"box": {
					"id": "obj-50",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [],
					"patching_rect": [
						180.0,
						340.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						276.0,
						56.0,
						54.0,
						18.0
					],
					"text": "emotion"
				}
			},
			{
				"box": {
					"id": "obj-51",
					"ignoreclick": 1,
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						340.0,
						340.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						332.0,
						56.0,
						64.0,
						20.0
					],
					"text": "",
					"varname": "fb_emotion"
				}
			},
			{
				"box": {
					"id": "obj-52",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						500.0,
						340.0,
						150.0,
						22.0
					],
					"text": "prepend set"
				}
			},
			{
				"box": {
					"id": "obj-53",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [],
					"patching_rect": [
						660.0,
						340.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						276.0,
						82.0,
						54.0,
						18.0
					],
					"text": "valence"
				}
			},
			{
				"box": {
					"format": 6,
					"id": "obj-54",
					"ignoreclick": 1,
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						"bang"
					],
					"patching_rect": [
						820.0,
						340.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						332.0,
						82.0,
						64.0,
						20.0
					],
					"varname": "fb_valence"
				}
			},
			{
				"box": {
					"id": "obj-55",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [],
					"patching_rect": [
						20.0,
						380.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						276.0,
						108.0,
						54.0,
						18.0
					],
					"text": "arousal"
				}
			},
			{
				"box": {
					"format": 6,
					"id": "obj-56",
					"ignoreclick": 1,
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						"bang"
					],
					"patching_rect": [
						180.0,
						380.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						332.0,
						108.0,
						64.0,
						20.0
					],
					"varname": "fb_arousal"
				}
			},
			{
				"box": {
					"id": "obj-57",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [],
					"patching_rect": [
						340.0,
						380.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						276.0,
						134.0,
						54.0,
						18.0
					],
					"text": "lambda"
				}
			},
			{
				"box": {
					"format": 6,
					"id": "obj-58",
					"ignoreclick": 1,
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						"bang"
					],
					"patching_rect": [
						500.0,
						380.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						332.0,
						134.0,
						64.0,
						20.0
					],
					"varname": "fb_lambda"
				}
			},
			{
				"box": {
					"id": "obj-59",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [],
					"patching_rect": [
						660.0,
						380.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						400.0,
						4.0,
						54.0,
						18.0
					],
					"text": "playing"
				}
			},
			{
				"box": {
					"id": "obj-60",
					"ignoreclick": 1,
					"maxclass": "number",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						"bang"
					],
					"patching_rect": [
						820.0,
						380.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						456.0,
						4.0,
						64.0,
						20.0
					],
					"varname": "fb_playing"
				}
			},
			{
				"box": {
					"id": "obj-61",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [],
					"patching_rect": [
						20.0,
						420.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						400.0,
						30.0,
						54.0,
						18.0
					],
					"text": "missed"
				}
			},
			{
				"box": {
					"id": "obj-62",
					"ignoreclick": 1,
					"maxclass": "number",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						"bang"
					],
					"patching_rect": [
						180.0,
						420.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						456.0,
						30.0,
						64.0,
						20.0
					],
					"varname": "fb_missed"
				}
			},
			{
				"box": {
					"id": "obj-63",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [],
					"patching_rect": [
						340.0,
						420.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						400.0,
						56.0,
						54.0,
						18.0
					],
					"text": "tonic"
				}
			},
			{
				"box": {
					"id": "obj-64",
					"ignoreclick": 1,
					"maxclass": "live.menu",
					"numinlets": 1,
					"numoutlets": 3,
					"outlettype": [
						"",
						"",
						"float"
					],
					"parameter_enable": 1,
					"patching_rect": [
						500.0,
						420.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						456.0,
						56.0,
						64.0,
						20.0
					],
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_enum": [
								"C",
								"C#",
								"D",
								"Eb",
								"E",
								"F",
								"F#",
								"G",
								"Ab",
								"A",
								"Bb",
								"B"
							],
							"parameter_invisible": 2,
							"parameter_longname": "fb_tonic",
							"parameter_mmax": 11,
							"parameter_shortname": "tonic",
							"parameter_type": 2
						}
					},
					"varname": "fb_tonic"
				}
			},
			{
				"box": {
					"id": "obj-65",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						660.0,
						420.0,
						150.0,
						22.0
					],
					"text": "prepend set"
				}
			},
			{
				"box": {
					"id": "obj-66",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [],
					"patching_rect": [
						820.0,
						420.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						400.0,
						82.0,
						54.0,
						18.0
					],
					"text": "temperature"
				}
			},
			{
				"box": {
					"format": 6,
					"id": "obj-67",
					"ignoreclick": 1,
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						"bang"
					],
					"patching_rect": [
						20.0,
						460.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						456.0,
						82.0,
						64.0,
						20.0
					],
					"varname": "fb_temperature"
				}
			},
			{
				"box": {
					"id": "obj-68",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [],
					"patching_rect": [
						180.0,
						460.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						400.0,
						108.0,
						54.0,
						18.0
					],
					"text": "key_strength"
				}
			},
			{
				"box": {
					"format": 6,
					"id": "obj-69",
					"ignoreclick": 1,
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						"bang"
					],
					"patching_rect": [
						340.0,
						460.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						456.0,
						108.0,
						64.0,
						20.0
					],
					"varname": "fb_key_strength"
				}
			},
			{
				"box": {
					"id": "obj-70",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [],
					"patching_rect": [
						500.0,
						460.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						400.0,
						134.0,
						54.0,
						18.0
					],
					"text": "transfer"
				}
			},
			{
				"box": {
					"id": "obj-71",
					"ignoreclick": 1,
					"maxclass": "number",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						"bang"
					],
					"patching_rect": [
						660.0,
						460.0,
						150.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						456.0,
						134.0,
						64.0,
						20.0
					],
					"varname": "fb_transfer"
				}
			}
		],
		"lines": [
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-1",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-5",
						0
					],
					"source": [
						"obj-4",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-3",
						0
					],
					"source": [
						"obj-5",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-7",
						0
					],
					"source": [
						"obj-6",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-3",
						0
					],
					"source": [
						"obj-7",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-9",
						0
					],
					"source": [
						"obj-8",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-3",
						0
					],
					"source": [
						"obj-9",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-11",
						0
					],
					"source": [
						"obj-10",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-3",
						0
					],
					"source": [
						"obj-11",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-13",
						0
					],
					"source": [
						"obj-12",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-3",
						0
					],
					"source": [
						"obj-13",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-15",
						0
					],
					"source": [
						"obj-14",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-16",
						0
					],
					"source": [
						"obj-15",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-3",
						0
					],
					"source": [
						"obj-16",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-17",
						0
					],
					"source": [
						"obj-15",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-3",
						0
					],
					"source": [
						"obj-17",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-18",
						0
					],
					"source": [
						"obj-15",
						2
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-3",
						0
					],
					"source": [
						"obj-18",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-19",
						0
					],
					"source": [
						"obj-15",
						3
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-3",
						0
					],
					"source": [
						"obj-19",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-21",
						0
					],
					"source": [
						"obj-20",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-3",
						0
					],
					"source": [
						"obj-21",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-23",
						0
					],
					"source": [
						"obj-22",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-3",
						0
					],
					"source": [
						"obj-23",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-25",
						0
					],
					"source": [
						"obj-24",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-26",
						0
					],
					"source": [
						"obj-25",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-3",
						0
					],
					"source": [
						"obj-26",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-29",
						0
					],
					"source": [
						"obj-28",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-3",
						0
					],
					"source": [
						"obj-29",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-33",
						0
					],
					"source": [
						"obj-32",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-34",
						0
					],
					"source": [
						"obj-33",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-35",
						0
					],
					"source": [
						"obj-34",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-3",
						0
					],
					"source": [
						"obj-35",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-36",
						0
					],
					"source": [
						"obj-34",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-32",
						0
					],
					"source": [
						"obj-36",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-39",
						0
					],
					"source": [
						"obj-38",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-40",
						0
					],
					"source": [
						"obj-39",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-3",
						0
					],
					"source": [
						"obj-40",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-43",
						0
					],
					"source": [
						"obj-42",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-44",
						0
					],
					"source": [
						"obj-43",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-30",
						0
					],
					"source": [
						"obj-44",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-45",
						0
					],
					"source": [
						"obj-30",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-47",
						0
					],
					"source": [
						"obj-45",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-49",
						0
					],
					"source": [
						"obj-45",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-52",
						0
					],
					"source": [
						"obj-45",
						2
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-51",
						0
					],
					"source": [
						"obj-52",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-54",
						0
					],
					"source": [
						"obj-45",
						3
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-56",
						0
					],
					"source": [
						"obj-45",
						4
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-58",
						0
					],
					"source": [
						"obj-45",
						5
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-60",
						0
					],
					"source": [
						"obj-45",
						6
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-62",
						0
					],
					"source": [
						"obj-45",
						7
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-65",
						0
					],
					"source": [
						"obj-45",
						8
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-64",
						0
					],
					"source": [
						"obj-65",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-67",
						0
					],
					"source": [
						"obj-45",
						9
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-69",
						0
					],
					"source": [
						"obj-45",
						10
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-71",
						0
					],
					"source": [
						"obj-45",
						11
					]
				}
			}
		],
		"parameters": {
			"obj-4": [
				"valence",
				"Valence",
				0
			],
			"obj-6": [
				"arousal",
				"Arousal",
				0
			],
			"obj-8": [
				"lambda",
				"Lambda",
				0
			],
			"obj-10": [
				"temperature",
				"Temp",
				0
			],
			"obj-12": [
				"key_strength",
				"Key",
				0
			],
			"obj-14": [
				"emotion",
				"Emotion",
				0
			],
			"obj-20": [
				"play",
				"Play",
				0
			],
			"obj-22": [
				"transfer",
				"Transfer",
				0
			],
			"obj-24": [
				"panic",
				"Panic",
				0
			],
			"obj-28": [
				"tonic",
				"Tonic",
				0
			],
			"obj-34": [
				"host",
				"host",
				0
			],
			"obj-38": [
				"port",
				"port",
				0
			],
			"obj-42": [
				"feedback_port",
				"feedback",
				0
			],
			"obj-64": [
				"fb_tonic",
				"tonic",
				0
			],
			"inherited_shortname": 1
		},
		"dependency_cache": [],
		"autosave": 0
	}
}
